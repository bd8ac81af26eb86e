/**
 * System tests of a service's start-up against Kafka, on real processes: a restart after SIGKILL (the dead process is
 * still a member of the consumer group) and a start before the broker is even up (then a broker that just started,
 * whose group coordinator is still loading). Each runs the payment service alone, with its own data and group.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { checkHealth } from "#shared/grpc/health-client.js";
import { groupMemberIds } from "./consumer-groups.js";
import { kafkaBrokers } from "./mesh.js";
import { MeshChild, ROOT } from "../../scripts/mesh/child.js";
import { waitForServing } from "../../scripts/mesh/mesh.js";
import { INSECURE_WARNING } from "#shared/security/mesh-transport.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { freePort } from "../../scripts/mesh/free-port.js";

const run = promisify(execFile);
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** PaymentRun is how one payment process is started: the same port, data and group on every launch. */
interface PaymentRun {
  readonly address: string;
  readonly groupId: string;
  launch(): MeshChild;
}

async function paymentRun(brokers: string, extraEnv: Record<string, string> = {}): Promise<PaymentRun> {
  const root = mkdtempSync(path.join(tmpdir(), "shopmesh-kafka-start-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const port = await freePort();
  const groupId = `test-${crypto.randomUUID()}-payment`;
  let launches = 0;
  return {
    address: `127.0.0.1:${port}`,
    groupId,
    launch() {
      const env = {
        // The same port, data and group on every launch: a restart, as a process manager would do it.
        HOST: "127.0.0.1",
        PORT: String(port),
        METRICS_PORT: "0",
        DATA_DIR: path.join(root, "payment"),
        KAFKA_BROKERS: brokers,
        KAFKA_GROUP_ID: groupId,
        KAFKA_FROM_BEGINNING: "false",
        LOG_FORMAT: "json",
        // What is tested here is the start against Kafka; certificates would only add a PKI to every launch.
        MESH_INSECURE: "1",
        ...extraEnv,
      };
      const proc = MeshChild.node(path.join("services", "payment", "src", "main.ts"), {
        name: "payment",
        env,
        logFile: path.join(root, `payment-${++launches}.log`),
      });
      cleanups.push(async () => void (await proc.stop("SIGKILL")));
      return proc;
    },
  };
}

/** logLines parses a process's JSON log lines. */
function logLines(proc: MeshChild): { level: number; msg: string }[] {
  return proc.output().flatMap((line) => {
    const json = line.slice(line.indexOf("{"));
    try {
      return [JSON.parse(json) as { level: number; msg: string }];
    } catch {
      return [];
    }
  });
}

/** freeBrokerPort finds a port for a broker whose controller listens one above it, both free. */
async function freeBrokerPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const controller = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port + 1, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (controller) return port;
  }
}

async function kafkaScript(command: "start" | "stop", port: number): Promise<void> {
  await run("bash", ["scripts/kafka.sh", command], { cwd: ROOT, env: { ...process.env, KAFKA_PORT: String(port) }, timeout: 180_000 });
}

describe("start-up against Kafka", () => {
  it("when a service is killed with SIGKILL and restarted, then it reports SERVING within 5 s", async () => {
    // Arrange: a payment process that joined its group, then died without leaving it
    const brokers = kafkaBrokers();
    const payment = await paymentRun(brokers);
    const first = payment.launch();
    await waitForServing(first, payment.address, 60_000);
    await first.stop("SIGKILL");
    expect(await groupMemberIds(brokers, payment.groupId)).toHaveLength(1); // the dead member, until its session times out

    // Act
    const restarted = payment.launch();

    // Assert: the bound is the liveness promise itself (it took ~28 s while the join waited for the dead member)
    await waitForServing(restarted, payment.address, 5_000);
    expect(await groupMemberIds(brokers, payment.groupId)).toHaveLength(1);
    expect(logLines(restarted).map((line) => line.msg)).toContain("evicted a stale group member");
    expect(await restarted.stop("SIGTERM"), restarted.tail()).toEqual({ code: 0, signal: null });
  }, 120_000);

  it("when the broker is not up yet at start-up and its coordinator still loading once it is, then the service waits, warns once, and starts", async () => {
    // Arrange: a port where no broker runs yet (a fresh one starts there below)
    const port = await freeBrokerPort();
    const runDir = path.join(ROOT, ".cache", "kafka", `run-${port}`);
    cleanups.push(() => {
      rmSync(runDir, { recursive: true, force: true });
      rmSync(path.join(ROOT, ".cache", "kafka", `kafka-${port}.lock`), { force: true });
    });
    cleanups.push(() => kafkaScript("stop", port));
    const payment = await paymentRun(`127.0.0.1:${port}`, { KAFKA_START_TIMEOUT_MS: "180000" });

    // Act
    const proc = payment.launch();
    await waitUntil(() => checkHealth(payment.address).then((answer) => answer === "NOT_SERVING"), {
      timeoutMs: 60_000,
      message: "payment to answer NOT_SERVING while Kafka is away",
      describe: () => proc.tail(10),
    });
    await kafkaScript("start", port); // a brand-new broker: topics created, the offsets topic not yet

    // Assert
    await waitForServing(proc, payment.address, 180_000);
    const lines = logLines(proc);
    // Plaintext on purpose (launch()), which the service says once at start, before the one Kafka warning.
    expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
      INSECURE_WARNING,
      "Kafka is not ready yet; waiting for it (KAFKA_START_TIMEOUT_MS)",
    ]);
    expect(
      lines.filter((line) => line.level >= 50),
      proc.tail(),
    ).toEqual([]);
    expect(await proc.stop("SIGTERM"), proc.tail()).toEqual({ code: 0, signal: null });
    // kafka.sh itself: its probe takes this broker's KRaft controller, on port + 1, for no broker at all.
    expect(await kafkaStatus(port)).toEqual({ code: 0, output: expect.stringMatching(/^running: /) });
    expect(await kafkaStatus(port + 1)).toEqual({ code: 3, output: expect.stringMatching(/nothing answers like kafka/) });
  }, 300_000);
});

/** kafkaStatus runs `kafka.sh status` on `port`: exit 0 for a broker it started, 3 when nothing answers like Kafka. */
async function kafkaStatus(port: number): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run("bash", ["scripts/kafka.sh", "status"], { cwd: ROOT, env: { ...process.env, KAFKA_PORT: String(port) } });
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    return { code: failed.code ?? 1, output: failed.stdout ?? "" };
  }
}
