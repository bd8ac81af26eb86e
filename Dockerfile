# One image for the three node services (inventory, payment, order) and the kafka-init one-shot; compose.yaml picks
# what a container runs with its `command`. The services run their TypeScript sources through tsx, exactly as
# `npm start` and the system tests do, so there is no build step to drift from the sources.
FROM node:20-bookworm

WORKDIR /app

# Dependencies first, so this layer stays cached while only sources change. npm ci installs the dev dependencies too
# (tsx runs the sources) and runs postinstall, which needs scripts/proto-deps.mjs. better-sqlite3 brings a prebuilt
# binary for this platform, or compiles with the toolchain node:20 (not -slim) ships.
COPY package.json package-lock.json ./
COPY scripts/proto-deps.mjs scripts/
RUN npm ci --no-audit --no-fund && npm cache clean --force

# Only what runs: generated stubs, the services, the scripts (create-topics, dlq, the health probe in start.ts).
COPY tsconfig.json ./
COPY gen ./gen
COPY services ./services
COPY scripts ./scripts

# Each service keeps its SQLite file in DATA_DIR; compose mounts a named volume there. The directory belongs to the
# unprivileged user, and a fresh named volume takes that ownership over.
RUN mkdir -p /data && chown node:node /data
USER node

ENV HOST=0.0.0.0 \
    DATA_DIR=/data \
    LOG_FORMAT=json

# A service is healthy once grpc.health.v1 says SERVING (its port bound and its Kafka consumers joined).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "--import", "tsx", "--input-type=module", "-e", "const { checkHealth } = await import('/app/scripts/start.ts'); process.exit((await checkHealth('127.0.0.1:' + process.env.PORT, 3000)) === 'SERVING' ? 0 : 1);"]

CMD ["node", "--import", "tsx", "services/order/src/main.ts"]
