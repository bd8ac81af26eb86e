/** describeMachine records what the figures were measured on (they mean little without it). */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { HAS_TASKSET, ROOT } from "../../scripts/mesh/child.js";
import { GHZ } from "./ghz.js";

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly grpcJs: string;
  readonly kafka: string;
  readonly ghz: string;
  readonly taskset: boolean;
  readonly loadAverage: readonly number[];
}

export function describeMachine(brokers: string): Machine {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    grpcJs: packageVersion("@grpc/grpc-js"),
    kafka: kafkaVersion(brokers),
    ghz: existsSync(GHZ) ? spawnSync(GHZ, ["--version"], { encoding: "utf8" }).stdout.trim() || "unknown" : "not installed",
    taskset: HAS_TASKSET,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** kafkaVersion reads it from a scripts/kafka.sh broker's class path (its jars carry the version), else says what it knows. */
function kafkaVersion(brokers: string): string {
  const port = /:(\d+)$/.exec(brokers.split(",")[0] ?? "")?.[1];
  const runDir = path.join(ROOT, ".cache", "kafka", port === "9092" ? "run" : `run-${port}`);
  try {
    const pid = readFileSync(path.join(runDir, "kafka.pid"), "utf8").trim();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const match = /kafka_[\d.]+-([\d.]+)\.jar/.exec(cmdline) ?? /kafka\/([\d.]+)\/libs/.exec(cmdline);
    if (match?.[1]) return `${match[1]} (scripts/kafka.sh, ${brokers})`;
  } catch {
    // not a scripts/kafka.sh broker on this machine
  }
  const cached = existsSync(path.join(ROOT, ".cache", "kafka"))
    ? readdirSync(path.join(ROOT, ".cache", "kafka")).filter((d) => /^\d/.test(d))
    : [];
  return `${process.env["KAFKA_VERSION"] ?? cached[0] ?? "unknown"} (at ${brokers})`;
}
