/**
 * The lab's Kafka broker: scripts/kafka.sh on a free pair of ports (the broker's and its KRaft controller's), with a
 * fresh data directory, so a lab never meets `npm start`'s broker or a test run's; and the fault controls on it.
 */
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { kafkaScript, startLocalBroker, type Broker } from "../../scripts/mesh/broker.js";
import { ROOT } from "../../scripts/mesh/child.js";

/** LabBroker is a broker on a lab port (scripts/kafka.sh), started for one lab or shared by several in turn. */
export interface LabBroker {
  readonly port: number;
  readonly broker: Broker;
}

/** startLabBroker starts a fresh broker on a free pair of ports (the broker's and its controller's). */
export async function startLabBroker(options: { port?: number; env?: Record<string, string> } = {}): Promise<LabBroker> {
  const port = options.port ?? (await brokerPort());
  wipeBrokerData(port);
  return { port, broker: await startLocalBroker(port, "ignore", options.env) };
}

/** releaseLabBroker stops a lab broker (thawing it first, in case a failed lab left it frozen) and deletes its data. */
export async function releaseLabBroker({ port, broker }: LabBroker): Promise<void> {
  try {
    process.kill(brokerPid(port), "SIGCONT"); // a frozen JVM would never act on the SIGTERM that stops it
  } catch {
    // no broker running
  }
  await broker.release();
  wipeBrokerData(port);
}

/** brokerRunDir is where scripts/kafka.sh keeps a non-default port's broker (config, data, pid, log). */
function brokerRunDir(port: number): string {
  return path.join(ROOT, ".cache", "kafka", `run-${port}`);
}

/** brokerPid reads the pid scripts/kafka.sh recorded for the lab's broker. */
export function brokerPid(port: number): number {
  return Number(readFileSync(path.join(brokerRunDir(port), "kafka.pid"), "utf8").trim());
}

/** wipeBrokerData removes a lab broker's run directory, so a lab reads only its own messages from the beginning. */
function wipeBrokerData(port: number): void {
  rmSync(brokerRunDir(port), { recursive: true, force: true });
}

/**
 * brokerPort finds a free port whose neighbour (the KRaft controller's: kafka.sh uses port + 1) is free too, below
 * Linux's ephemeral range (32768–60999). A port from that range (what freePort gives) can be taken while the broker is
 * down by the local end of any outgoing connection, and then the broker-down lab cannot start it again.
 */
export async function brokerPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 21_000 + 2 * Math.floor(Math.random() * 5_000);
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
  throw new Error("no two adjacent free ports between 21000 and 31000 for the lab's broker");
}

/**
 * lowFreePort finds a free port between 21000 and 31000, below the ephemeral range, for a server a lab stops and
 * starts again on the same port (see brokerPort); `avoid` are ports already picked for the same lab.
 */
export async function lowFreePort(avoid: readonly number[] = []): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 21_000 + Math.floor(Math.random() * 10_000);
    if (!avoid.includes(port) && (await portFree(port))) return port;
  }
  throw new Error("no free port between 21000 and 31000");
}

export async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** kafkaCommand runs `kafka.sh stop|start` on a lab broker's port and fails with the script's output. */
export async function kafkaCommand(port: number, command: "start" | "stop", env: Record<string, string> = {}): Promise<void> {
  const { code, output } = await kafkaScript(command, { port, env });
  if (code !== 0) throw new Error(`kafka.sh ${command} on ${port} failed: ${output}`);
}
