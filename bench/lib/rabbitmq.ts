/**
 * The benchmark's RabbitMQ (P7): RABBITMQ_URL when set (the test passes the suite's), otherwise scripts/rabbitmq.sh on
 * ports of the bench's own (BENCH_RABBITMQ_PORT, default 29672, with its Erlang distribution on the next port and its
 * epmd on the one after), never `npm start`'s 5672 nor the tests' 19672. A node already answering there is reused and
 * left running; one the bench started is stopped at the end.
 */
import { runScript } from "../../scripts/mesh/command-brokers.js";

export interface BenchRabbitmq {
  readonly url: string;
  readonly origin: string;
  release(): Promise<void>;
}

export async function acquireRabbitmq(log: (line: string) => void): Promise<BenchRabbitmq> {
  const given = process.env["RABBITMQ_URL"]?.trim();
  if (given) return { url: given, origin: "RABBITMQ_URL", release: async () => {} };
  const port = Number(process.env["BENCH_RABBITMQ_PORT"] ?? 29672);
  const env = { RABBITMQ_NODE_PORT: String(port), RABBITMQ_DIST_PORT: String(port + 1), ERL_EPMD_PORT: String(port + 2) };
  const wasUp = (await runScript("rabbitmq.sh", "status", env, "ignore")).code === 0;
  log(`${wasUp ? "using the" : "starting a"} RabbitMQ on 127.0.0.1:${port} (scripts/rabbitmq.sh)`);
  const started = await runScript("rabbitmq.sh", "start", env);
  if (started.code !== 0) throw new Error(`bash scripts/rabbitmq.sh start failed (exit ${started.code}):\n${started.output}`);
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    origin: `scripts/rabbitmq.sh on ${port}${wasUp ? " (already running)" : ""}`,
    release: async () => {
      if (!wasUp) await runScript("rabbitmq.sh", "stop", env);
    },
  };
}
