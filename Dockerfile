# One image for the three node services (inventory, payment, order), the gateway and the kafka-init one-shot;
# compose.yaml picks what a container runs with its `command`. The services run compiled JavaScript, `node --enable-source-maps
# dist/<name>/main.js`, bundled in the image by `npm run build` (scripts/build.ts, esbuild) exactly as `npm start` and
# the benchmarks run them: tsx's loader would cost ~47 MiB of RSS per process (bench/FINDINGS.md, P6).
# Node 24, the line the project pins (package.json devDependencies): better-sqlite3 13 needs Node 22 or later.
FROM node:24-bookworm

WORKDIR /app

# Dependencies first, so this layer stays cached while only sources change. npm ci installs the dev dependencies too
# (esbuild builds; tsx runs the one-shot scripts: create-topics, dlq) and runs postinstall, which needs scripts/proto-deps.mjs. better-sqlite3 brings a prebuilt
# binary for this platform, or compiles with the toolchain node:24 (not -slim) ships.
COPY package.json package-lock.json ./
COPY scripts/proto-deps.mjs scripts/
RUN npm ci --no-audit --no-fund && npm cache clean --force

# The sources the bundles are built from (the gateway's too: `npm run build` bundles all four processes) and the
# scripts (build, create-topics, dlq). The bundles keep every package external: they load node_modules at run time.
COPY tsconfig.json ./
COPY gen ./gen
COPY services ./services
COPY gateway ./gateway
COPY scripts ./scripts
# The gateway also serves the web UI (web/dist, built here with Vite) and docs/versioning.md (the deprecation link).
COPY web ./web
COPY docs/versioning.md ./docs/
RUN npm run build && npm run build:web

# Each service keeps its SQLite file in DATA_DIR; compose mounts a named volume there. The directory belongs to the
# unprivileged user, and a fresh named volume takes that ownership over.
RUN mkdir -p /data && chown node:node /data
USER node

ENV HOST=0.0.0.0 \
    DATA_DIR=/data \
    LOG_FORMAT=json

# A service is healthy once grpc.health.v1 says SERVING (its port bound and its Kafka consumers joined); the gateway
# answers grpc.health.v1 on its port too, SERVING once every backend it forwards to is. Plain node and
# plain JavaScript (grpc-health-check's service definition; the TypeScript twin is services/shared/src/grpc/health-client.ts): no tsx for a probe that
# runs every ten seconds.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const g = require('@grpc/grpc-js'); const Health = g.makeGenericClientConstructor(require('grpc-health-check').service, 'Health'); new Health('127.0.0.1:' + process.env.PORT, g.credentials.createInsecure()).check({ service: '' }, { deadline: Date.now() + 3000 }, (error, response) => process.exit(!error && response.status === 'SERVING' ? 0 : 1));"]

CMD ["node", "--enable-source-maps", "dist/order/main.js"]
