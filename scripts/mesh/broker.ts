/**
 * The Kafka broker of a local run: KAFKA_BROKERS when set, else the broker scripts/kafka.sh runs on a given port
 * (reused when one already answers there, started otherwise), with the project's topics created either way.
 * Releasing it stops only a broker this run started.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { ensureTopics } from "../create-topics.js";
import { parseBrokers } from "#shared/events/kafka-client.js";
import { ROOT } from "./child.js";

/** Broker is the Kafka a run uses, and how to let go of it. */
export interface Broker {
  /** brokers is the PLAINTEXT listener: topic creation, the tools, the tests. */
  readonly brokers: string;
  /** tlsBrokers is the TLS listener when one was asked for ({@link BrokerTls}); KAFKA_TLS=1 clients connect there. */
  readonly tlsBrokers?: string | undefined;
  /** origin says where it came from, for logs and results. */
  readonly origin: string;
  /** startedHere tells whether this run started the broker (`release` then stops it, unless KAFKA_KEEP_RUNNING=1). */
  readonly startedHere: boolean;
  /** release stops the broker if this run started it (unless KAFKA_KEEP_RUNNING=1). */
  release(): Promise<void>;
}

/** KafkaScriptOptions choose the broker's port and what happens to the script's output. */
export interface KafkaScriptOptions {
  readonly port: string | number;
  /** output: "inherit" shows it, "capture" returns it, "ignore" drops it (default "capture"). */
  readonly output?: "inherit" | "capture" | "ignore";
  /** timeoutMs kills the script after this long (default: no limit; the script bounds its own waits). */
  readonly timeoutMs?: number;
  /** env adds to the script's environment (e.g. KAFKA_ADVERTISED_PORT). */
  readonly env?: Record<string, string>;
}

/**
 * BrokerTls asks scripts/kafka.sh for its TLS listener (KAFKA_TLS_PORT) with a broker certificate from the mesh's
 * CA in `pkiDir`, which also verifies every client certificate.
 */
export interface BrokerTls {
  readonly port: string | number;
  readonly pkiDir: string;
}

/** kafkaScript runs `bash scripts/kafka.sh <command>` with KAFKA_PORT=port and returns its exit code (and output). */
export function kafkaScript(command: "start" | "stop" | "status", options: KafkaScriptOptions): Promise<{ code: number; output: string }> {
  const mode = options.output ?? "capture";
  const stdio = mode === "capture" ? "pipe" : mode;
  return new Promise((resolve) => {
    const child = spawn("bash", [path.join(ROOT, "scripts", "kafka.sh"), command], {
      cwd: ROOT,
      env: { ...process.env, ...options.env, KAFKA_PORT: String(options.port) },
      stdio: ["ignore", stdio, stdio],
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
    });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (error) => resolve({ code: 127, output: `${output}${error.message}\n` }));
    child.once("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * startLocalBroker reuses the scripts/kafka.sh broker answering on `port`, or starts one; releasing it stops it only
 * when it was started here and KAFKA_KEEP_RUNNING is not 1.
 */
export async function startLocalBroker(
  port: string | number,
  output: "inherit" | "ignore" = "inherit",
  env: Record<string, string> = {},
  tls?: BrokerTls,
): Promise<Broker> {
  const wasRunning = (await kafkaScript("status", { port, output: "ignore" })).code === 0;
  const tlsEnv: Record<string, string> = tls ? { KAFKA_TLS_PORT: String(tls.port), PKI_DIR: tls.pkiDir } : {};
  const started = await kafkaScript("start", { port, output, env: { ...env, ...tlsEnv } });
  if (started.code !== 0) {
    throw new Error(`\`KAFKA_PORT=${port} bash scripts/kafka.sh start\` exited with ${started.code} (its output is above)`);
  }
  const keep = wasRunning || process.env["KAFKA_KEEP_RUNNING"] === "1";
  return {
    brokers: `127.0.0.1:${port}`,
    tlsBrokers: tls ? `127.0.0.1:${tls.port}` : undefined,
    origin: wasRunning ? "scripts/kafka.sh broker, already running" : "scripts/kafka.sh broker, started for this run",
    startedHere: !wasRunning,
    release: async () => {
      if (!keep) await kafkaScript("stop", { port, output });
    },
  };
}

/**
 * acquireBroker uses KAFKA_BROKERS when set (as given: no TLS listener is added to a broker this run does not own),
 * else {@link startLocalBroker} on `port`, with its TLS listener when `tls` is given; then creates missing topics.
 */
export async function acquireBroker(port: string | number, output: "inherit" | "ignore" = "inherit", tls?: BrokerTls): Promise<Broker> {
  const configured = process.env["KAFKA_BROKERS"]?.trim();
  const broker = configured
    ? { brokers: configured, origin: "KAFKA_BROKERS", startedHere: false, release: async () => {} }
    : await startLocalBroker(port, output, {}, tls);
  try {
    await ensureTopics(parseBrokers(broker.brokers));
  } catch (error) {
    await broker.release();
    throw error;
  }
  return broker;
}
