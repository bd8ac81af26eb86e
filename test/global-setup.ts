/**
 * The suite's global setup finds a real Kafka broker, makes sure the project's topics exist and hands the broker
 * address to the tests (`process.env.KAFKA_BROKERS` and `inject("kafkaBrokers")`). Where the broker comes from, in
 * this order:
 *   1. KAFKA_BROKERS is set: use it as is;
 *   2. a Docker engine answers: an apache/kafka container (testcontainers), removed after the run;
 *   3. scripts/kafka.sh start on port 19092 (KAFKA_TEST_PORT), apart from `npm start`'s 9092: a local broker from
 *      Maven Central (Java 17 + Maven), reused if one already answers;
 *   4. none of these: fail with what to install. A test that needs Kafka never skips.
 * Teardown stops only what this setup started (KAFKA_KEEP_RUNNING=1 keeps a locally started broker running).
 *
 * The command bus's brokers come up beside it, the same way: RABBITMQ_URL and SMTP_URL if both are set, else
 * RabbitMQ and Mailpit containers when a Docker engine answers, else
 * scripts/rabbitmq.sh and scripts/mailpit.sh on the tests' own ports (RABBITMQ_TEST_PORT 19672 with its epmd on
 * RABBITMQ_TEST_EPMD_PORT 19369, MAILPIT_TEST_SMTP_PORT 19025, MAILPIT_TEST_HTTP_PORT 19825), apart from npm start's.
 * They reach the tests as `inject("rabbitmqUrl")`, `inject("smtpUrl")` and `inject("mailpitUrl")`; a failure fails
 * the run with the scripts' output (rabbitmq.sh says what to install). COMMAND_BROKERS_KEEP_RUNNING=1 keeps them.
 */
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from "testcontainers";
import type { TestProject } from "vitest/node";
import { ensureTopics } from "../scripts/create-topics.js";
import { startLocalBroker, type Broker } from "../scripts/mesh/broker.js";
import { acquireCommandBrokers } from "../scripts/mesh/command-brokers.js";
import { freePort } from "../scripts/mesh/free-port.js";
import { parseBrokers } from "#shared/events/kafka-client.js";

/** KAFKA_IMAGE: the same Kafka version as scripts/kafka.sh (docs/kafka.md). */
const KAFKA_IMAGE = `apache/kafka:${process.env["KAFKA_VERSION"] ?? "4.4.0"}`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = await findBroker();
  console.log(`[global-setup] Kafka at ${broker.brokers} (${broker.origin})`);
  let commands: Awaited<ReturnType<typeof acquireCommandBrokers>>;
  try {
    await ensureTopics(parseBrokers(broker.brokers));
    const givenCommands = Boolean(process.env["RABBITMQ_URL"]?.trim() && process.env["SMTP_URL"]?.trim());
    const host = givenCommands ? undefined : await dockerHost();
    commands =
      host !== undefined
        ? await startCommandContainers(host)
        : await acquireCommandBrokers(
            {
              rabbitmq: Number(process.env["RABBITMQ_TEST_PORT"] ?? 19672),
              epmd: Number(process.env["RABBITMQ_TEST_EPMD_PORT"] ?? 19369),
              smtp: Number(process.env["MAILPIT_TEST_SMTP_PORT"] ?? 19025),
              mailpitHttp: Number(process.env["MAILPIT_TEST_HTTP_PORT"] ?? 19825),
            },
            "ignore",
          );
  } catch (error) {
    await broker.release();
    throw error;
  }
  console.log(`[global-setup] RabbitMQ at ${commands.rabbitmqUrl}, SMTP at ${commands.smtpUrl} (${commands.origin})`);
  process.env["KAFKA_BROKERS"] = broker.brokers;
  project.provide("kafkaBrokers", broker.brokers);
  project.provide("rabbitmqUrl", commands.rabbitmqUrl);
  project.provide("smtpUrl", commands.smtpUrl);
  project.provide("mailpitUrl", commands.mailpitUrl ?? "");
  return async () => {
    await Promise.all([broker.release(), commands.release()]);
  };
}

async function findBroker(): Promise<Broker> {
  const configured = process.env["KAFKA_BROKERS"]?.trim();
  if (configured) return { brokers: configured, origin: "KAFKA_BROKERS", startedHere: false, release: async () => {} };

  const host = await dockerHost();
  if (host !== undefined) return startContainer(host);

  const failures: string[] = ["no Docker engine reachable"];
  try {
    return await startLocalBroker(TEST_KAFKA_PORT);
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error));
  }
  throw new Error(
    `No Kafka broker for the tests (${failures.join("; ")}). Get one in any of these ways:\n` +
      "  - install Java 17+ and Maven 3.8+ (e.g. apt-get install openjdk-17-jre-headless maven); the tests then run\n" +
      "    `KAFKA_PORT=19092 bash scripts/kafka.sh start` themselves (run it once yourself to keep that broker running);\n" +
      "  - or start a Docker engine: the tests then run an apache/kafka container;\n" +
      "  - or point KAFKA_BROKERS at a running broker, e.g. KAFKA_BROKERS=127.0.0.1:9092 npm test.",
  );
}

/** dockerHost returns the container runtime's host when a Docker engine answers within a few seconds (asked once). */
function dockerHost(): Promise<string | undefined> {
  dockerHostAnswer ??= askDockerHost();
  return dockerHostAnswer;
}
let dockerHostAnswer: Promise<string | undefined> | undefined;

async function askDockerHost(): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), 5_000);
  });
  try {
    const client = await Promise.race([getContainerRuntimeClient(), timeout]);
    return client?.info.containerRuntime.host;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * startContainer runs apache/kafka (KRaft, combined broker + controller). @testcontainers/kafka's KafkaContainer
 * drives Confluent's image only, so this uses GenericContainer; the advertised listener must name the host port,
 * so the port is chosen before start and bound as is.
 */
async function startContainer(host: string): Promise<Broker> {
  // Docker publishes the port on every interface, so it must be free on all of them.
  const port = await freePort("0.0.0.0");
  const container: StartedTestContainer = await new GenericContainer(KAFKA_IMAGE)
    .withExposedPorts({ container: 9092, host: port })
    .withEnvironment({
      KAFKA_NODE_ID: "1",
      KAFKA_PROCESS_ROLES: "broker,controller",
      KAFKA_LISTENERS: "PLAINTEXT://:9092,CONTROLLER://:9093",
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${port}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: "CONTROLLER",
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      KAFKA_CONTROLLER_QUORUM_VOTERS: "1@localhost:9093",
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1",
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: "1",
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: "1",
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: "1",
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false",
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(120_000)
    .start();
  return {
    brokers: `${host}:${port}`,
    origin: `container ${KAFKA_IMAGE}`,
    startedHere: true,
    release: async () => {
      await container.stop();
    },
  };
}

/** The command bus's images: the versions compose.yaml runs (RabbitMQ as Debian's package here, Mailpit as pinned). */
const RABBITMQ_IMAGE = "rabbitmq:3.10";
const MAILPIT_IMAGE = "axllent/mailpit:v1.33.1";

/**
 * startCommandContainers runs RabbitMQ and Mailpit as containers when a Docker engine answers, as Kafka runs as one:
 * the same servers scripts/rabbitmq.sh and scripts/mailpit.sh run without Docker, on ports Docker picks. The generic
 * container, not @testcontainers/rabbitmq: its module adds nothing here but a dependency (no plugins, guest/guest).
 */
async function startCommandContainers(host: string): Promise<Awaited<ReturnType<typeof acquireCommandBrokers>>> {
  const [rabbit, mailpit] = await Promise.all([
    new GenericContainer(RABBITMQ_IMAGE)
      .withExposedPorts(5672)
      .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
      .withStartupTimeout(120_000)
      .start(),
    new GenericContainer(MAILPIT_IMAGE)
      .withExposedPorts(1025, 8025)
      // Far above what a run sends: past Mailpit's default of 500 the oldest are deleted, and tests count emails.
      .withEnvironment({ MP_MAX_MESSAGES: "50000" })
      .withWaitStrategy(Wait.forListeningPorts())
      .start(),
  ]);
  const stop = async () => {
    await Promise.all([rabbit.stop(), mailpit.stop()]);
  };
  return {
    rabbitmqUrl: `amqp://guest:guest@${host}:${rabbit.getMappedPort(5672)}`,
    smtpUrl: `smtp://${host}:${mailpit.getMappedPort(1025)}`,
    mailpitUrl: `http://${host}:${mailpit.getMappedPort(8025)}`,
    origin: `containers ${RABBITMQ_IMAGE} and ${MAILPIT_IMAGE}`,
    release: stop,
    stop,
  };
}

/**
 * TEST_KAFKA_PORT: the tests' local broker listens on its own port (default 19092, data in .cache/kafka/run-19092),
 * apart from the `npm start` broker on 9092. Test runs leave thousands of throwaway events behind; on a shared log,
 * the next `npm start` would replay them all into the demo's services.
 */
const TEST_KAFKA_PORT = process.env["KAFKA_TEST_PORT"] ?? "19092";
