/** resultsMarkdown renders bench/results/latest.md: the headline table, the details per measure, the machine, how to reproduce. */
import type { P2Row } from "../measures/p2-gateway.js";
import { P2_LABELS } from "../measures/p2-gateway.js";
import type { P3Step, P3TracingCost } from "../measures/p3-flow.js";
import type { MessageSize, CodecSpeed } from "../measures/p5-encoding.js";
import type { Side } from "../measures/p1-grpc.js";
import type { BenchResults, Measure } from "./results.js";

const fmt = (v: unknown, digits = 2): string => {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return String(Math.round(v * 10 ** digits) / 10 ** digits);
};
const spread = (s: Side["rps"] | undefined) => (s && s.samples.length > 1 ? ` (±${fmt(s.spreadPct, 1)} %)` : "");

/** resultsMarkdown: see the file comment; `chartFile` is the P3 chart's name next to the markdown file. */
export function resultsMarkdown(r: BenchResults, chartFile: string | undefined): string {
  const out: string[] = [];
  out.push(`# shopmesh benchmarks (${r.mode}${r.profiled ? ", profiled: figures are slower than usual" : ""})`, "");
  out.push(
    `Measured ${r.startedAt} in ${Math.round(r.durationSec)} s on ${r.machine["nproc"]} × ${r.machine["cpuModel"]}, ` +
      `${r.machine["memoryGiB"]} GiB, Node ${r.machine["node"]}, Kafka ${r.machine["kafka"]}; load average ` +
      `${String(r.machine["loadAverage"])} at the start, ${String(r.machine["loadAverageAtEnd"])} at the end. Every figure is the median of the ` +
      `repeats with its spread ((max − min) / median); ratios are to a baseline measured in the same run. Method: bench/README.md.`,
    "",
  );
  out.push("| id | measure | value | baseline (same run) | ratio | goal | met |", "|---|---|---:|---:|---:|---|:---:|");
  for (const m of r.measures) {
    out.push(
      `| ${m.id} | ${m.title} | ${m.value === null ? `error: ${m.error ?? "?"}` : `${fmt(m.value)} ${m.unit}`} | ` +
        `${m.baseline === null ? "–" : `${fmt(m.baseline)} (${m.baselineLabel})`} | ${fmt(m.ratio, 3)} | ${m.goal} | ${m.met ? "yes" : "**no**"} |`,
    );
  }
  out.push("");
  for (const m of r.measures) out.push(...details(m, chartFile));
  out.push("## Machine", "", "| | |", "|---|---|");
  for (const [k, v] of Object.entries(r.machine)) out.push(`| ${k} | ${Array.isArray(v) ? v.join(", ") : String(v)} |`);
  out.push("", "## Settings", "", "```json", JSON.stringify(r.settings, null, 2), "```", "");
  if (r.notes.length) out.push("## Notes", "", ...r.notes.map((n) => `- ${n}`), "");
  out.push(
    "## Reproduce",
    "",
    "```sh",
    "npm ci && npm run tools              # ghz into .tools/bin",
    "npm run bench:quick                  # about 3 minutes; npm run bench for the full run (about 10)",
    "npm run bench -- --only P1,P2        # some measures; --profile adds node --cpu-prof to every service",
    "```",
    "",
    "The run uses `KAFKA_BROKERS` when set, otherwise `scripts/kafka.sh` on 127.0.0.1:19092 (started and stopped by the run " +
      "unless already running). Everything listens on 127.0.0.1.",
    "",
  );
  return out.join("\n");
}

function details(m: Measure, chartFile: string | undefined): string[] {
  const d = m.details;
  const out = [`## ${m.id}: ${m.title}`, ""];
  if (m.error) out.push(`Not measured: ${m.error}`, "");
  for (const g of m.goals) out.push(`- ${g.met ? "met" : "**missed**"}: ${g.text}`);
  out.push("");
  if (m.id === "P1" && d["getOrder"]) {
    const plaintext = d["plaintext"] as Side | undefined;
    const rows: [string, Side][] = [
      [plaintext ? "GetOrder over mTLS (order service, as deployed)" : "GetOrder (order service)", d["getOrder"] as Side],
      ...(plaintext ? [["GetOrder over plaintext (same process, MESH_INSECURE=1)", plaintext] as [string, Side]] : []),
      ["bare grpc-js echo (plaintext)", d["echo"] as Side],
    ];
    out.push("| target | QPS | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|");
    for (const [name, s] of rows)
      out.push(`| ${name} | ${fmt(s.rps.median)}${spread(s.rps)} | ${fmt(s.p50Ms.median)} | ${fmt(s.p99Ms.median)} | ${s.errors} |`);
    out.push("");
    const cost = d["tlsCost"] as { text: string } | undefined;
    if (cost) out.push(`${cost.text}.`, "");
    const traced = d["traced"] as Side | undefined;
    const tracing = d["tracingCost"] as { text: string } | undefined;
    if (traced && tracing)
      out.push(
        `Tracing on (TRACING=zipkin, every RPC a SERVER span, exported to a sink): ${fmt(traced.rps.median)}${spread(traced.rps)} QPS, ` +
          `p50 ${fmt(traced.p50Ms.median)} ms, p99 ${fmt(traced.p99Ms.median)} ms; ${tracing.text}.`,
        "",
      );
  }
  if (m.id === "P2" && Array.isArray(d["rows"])) {
    out.push(
      `Max RPS: closed loop. Latency: at ${fmt(d["latencyRate"] as number)} req/s offered; "added" is over direct gRPC.`,
      "",
      "| target | max RPS | ratio | p50 ms | p99 ms | added p50 ms | added p99 ms |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    const rows = d["rows"] as P2Row[];
    const base = rows.find((x) => x.target === "direct");
    for (const row of rows) {
      if (row.error) {
        out.push(`| ${P2_LABELS[row.target]} | error: ${row.error} | | | | | |`);
        continue;
      }
      out.push(
        `| ${P2_LABELS[row.target]} | ${fmt(row.max.rps.median)}${spread(row.max.rps)} | ${fmt(row.max.rps.median / (base?.max.rps.median ?? Number.NaN), 3)} | ` +
          `${fmt(row.atRate.p50Ms.median)} | ${fmt(row.atRate.p99Ms.median)} | ` +
          `${row.target === "direct" ? "–" : fmt(row.atRate.p50Ms.median - (base?.atRate.p50Ms.median ?? Number.NaN))} | ` +
          `${row.target === "direct" ? "–" : fmt(row.atRate.p99Ms.median - (base?.atRate.p99Ms.median ?? Number.NaN))} |`,
      );
    }
    out.push("");
  }
  if (m.id === "P3" && Array.isArray(d["steps"])) {
    if (chartFile) out.push(`![P3: latency and confirmed orders/s against the offered rate](${chartFile})`, "");
    out.push(
      "| offered/s | created | confirmed | shed (429) | shed answered p50 ms | failed | unfinished | confirmed/s | create p50 ms | create p99 ms | →CONFIRMED p50 ms | →CONFIRMED p99 ms | max ms |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const s of d["steps"] as P3Step[]) {
      // Results recorded before shedding was counted have no shed figures.
      const shed = s.shed === undefined ? "–" : String(s.shed);
      out.push(
        `| ${s.offeredRate} | ${s.created} | ${s.confirmed} | ${shed} | ${fmt(s.shedP50Ms)} | ${s.failed} | ${s.unfinished} | ${fmt(s.confirmedPerSec)} | ${fmt(s.createP50Ms)} | ` +
          `${fmt(s.createP99Ms)} | ${fmt(s.confirmP50Ms)} | ${fmt(s.confirmP99Ms)} | ${fmt(s.confirmMaxMs)} |`,
      );
    }
    const errors = (d["steps"] as P3Step[]).filter((s) => s.firstError).map((s) => `${s.offeredRate}/s: ${s.firstError}`);
    if (errors.length) out.push("", "First error per step:", "", ...errors.map((e) => `- ${e}`));
    out.push("");
    const tracing = d["tracingCost"] as P3TracingCost | undefined;
    if (tracing) {
      out.push(
        `Tracing off against on (every process, spans to a sink; ${tracing.spansExported} spans exported while on, ${tracing.spansWhileOff} while off), medians over the repeats:`,
        "",
        "| offered/s | confirmed/s off | confirmed/s on | ratio | →CONFIRMED p50 ms off | on | ratio | →CONFIRMED p99 ms off | on | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      );
      for (const r of tracing.rows)
        out.push(
          `| ${r.rate} | ${fmt(r.confirmedPerSec.off.median)} | ${fmt(r.confirmedPerSec.on.median)} | ${fmt(r.confirmedPerSec.ratio, 3)} | ` +
            `${fmt(r.confirmP50Ms.off.median)} | ${fmt(r.confirmP50Ms.on.median)} | ${fmt(r.confirmP50Ms.ratio, 3)} | ` +
            `${fmt(r.confirmP99Ms.off.median)} | ${fmt(r.confirmP99Ms.on.median)} | ${fmt(r.confirmP99Ms.ratio, 3)} |`,
        );
      out.push("");
    }
    if (d["tracingCostError"]) out.push(`Tracing off against on: not measured (${String(d["tracingCostError"])}).`, "");
  }
  if (m.id === "P4" && d["relay"]) {
    const relay = d["relay"] as Side["rps"];
    const raw = d["raw"] as Side["rps"];
    out.push(
      `${fmt(d["events"] as number)} events of ${String(d["valueBytes"])} bytes (+ CloudEvents headers) per run, batches of ${String(d["batchSize"])}: ` +
        `relay ${fmt(relay.median)}${spread(relay)} events/s, raw kafkajs producer ${fmt(raw.median)}${spread(raw)} events/s.`,
      "",
    );
  }
  if (m.id === "P7" && d["relay"]) {
    const relay = d["relay"] as Side["rps"];
    const raw = d["raw"] as Side["rps"];
    const sequential = d["rawSequential"] as Side["rps"];
    out.push(
      `${fmt(d["commands"] as number)} SendOrderEmail commands of ${String(d["bodyBytes"])} bytes (+ CloudEvents headers), persistent, ` +
        `publisher confirms, batches of ${String(d["batchSize"])}: relay ${fmt(relay.median)}${spread(relay)} commands/s; raw ` +
        `rabbitmq-client publisher ${fmt(raw.median)}${spread(raw)} commands/s with each batch in flight, ` +
        `${fmt(sequential.median)}${spread(sequential)} commands/s awaiting each confirm before the next publish, as the bus did before it pipelined a batch ` +
        `(relay / that: ${fmt(d["ratioToSequential"] as number, 3)}).`,
      "",
    );
  }
  if (m.id === "P5" && Array.isArray(d["sizes"])) {
    out.push("| message | protobuf bytes | JSON bytes | ratio |", "|---|---:|---:|---:|");
    for (const s of d["sizes"] as MessageSize[]) out.push(`| ${s.message} | ${s.protobufBytes} | ${s.jsonBytes} | ${fmt(s.ratio, 3)} |`);
    out.push(
      `| **one order's messages together** | ${String(d["totalProtobufBytes"])} | ${String(d["totalJsonBytes"])} | ${fmt(m.ratio, 3)} |`,
      "",
    );
    out.push(
      "Operations per second (one core, median): protobuf-es binary, protobuf-es JSON (`toJsonString`/`fromJsonString`), and the runtime's `JSON.stringify`/`JSON.parse` of the same JSON.",
      "",
      "| message | encode binary | encode JSON (protobuf-es) | JSON.stringify | decode binary | decode JSON (protobuf-es) | JSON.parse |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const s of d["speeds"] as CodecSpeed[]) {
      out.push(
        `| ${s.message} | ${fmt(s.encodeProtobuf)} | ${fmt(s.encodeJsonProtobufEs)} | ${fmt(s.encodeJsonNative)} | ${fmt(s.decodeProtobuf)} | ${fmt(s.decodeJsonProtobufEs)} | ${fmt(s.decodeJsonNative)} |`,
      );
    }
    out.push("");
  }
  if (m.id === "P6" && d["peakRssMiB"]) {
    const idle = (d["idleRssMiB"] ?? {}) as Record<string, number>;
    out.push("| process | peak RSS MiB under P3 | RSS MiB idle, after start-up |", "|---|---:|---:|");
    for (const [name, mib] of Object.entries(d["peakRssMiB"] as Record<string, number>))
      out.push(`| ${name} | ${fmt(mib, 1)} | ${fmt(idle[name], 1)} |`);
    out.push("");
  }
  if (typeof d["explanation"] === "string") out.push(`Why: ${d["explanation"]}`, "");
  return out;
}
