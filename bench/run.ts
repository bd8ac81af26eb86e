/**
 * The shopmesh benchmarks (issue 5, P7 issue 12): P1–P7, each against a baseline measured in the same run where there is one.
 *
 *   npm run bench                 full run (about 10 minutes)
 *   npm run bench:quick           shorter runs and fewer repeats (at most about 3 minutes)
 *   BENCH_SMOKE=1 …               a few seconds per measure: checks the harness end to end (the test uses it)
 *   … -- --only P1,P2             some measures only (written to only-<ids>.json/md, ignored by git; latest.* untouched)
 *   … -- --profile                every service under node --cpu-prof; summaries land in the results
 *   … -- --insecure               the whole mesh in plaintext (MESH_INSECURE=1): what mTLS costs end to end, side by side
 *   … -- --out <dir>              where results go (default bench/results)
 *
 * Loopback only; bounded (every run has a duration, every wait a timeout, and a watchdog ends the whole run).
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { HAS_TASKSET, ROOT } from "../scripts/mesh/child.js";
import { chartSvg, writePng } from "./lib/chart.js";
import { profileMarkdown, summarizeProfile, type ProfileSummary } from "./lib/cpuprofile.js";
import { describeMachine } from "./lib/machine.js";
import { resultsMarkdown } from "./lib/markdown.js";
import { acquireBroker, BenchMesh, meshNotes, pinMesh, type Broker } from "./lib/mesh.js";
import { MEASURE_IDS, validateResults, type BenchResults, type Measure } from "./lib/results.js";
import { round } from "./lib/stats.js";
import { runP1, seedOrder, type LoadShape, type SeededOrder } from "./measures/p1-grpc.js";
import { runP2, type P2Settings } from "./measures/p2-gateway.js";
import { runP3, runP3TracingCost, type P3Result, type P3Settings, type P3TracingCost } from "./measures/p3-flow.js";
import { SpanSink } from "./lib/span-sink.js";
import { runP4, type P4Settings } from "./measures/p4-outbox.js";
import { runP5, type P5Settings } from "./measures/p5-encoding.js";
import { runP7, type P7Settings } from "./measures/p7-commands.js";
import { acquireRabbitmq, type BenchRabbitmq } from "./lib/rabbitmq.js";

type Mode = BenchResults["mode"];
type Id = (typeof MEASURE_IDS)[number];

interface Settings {
  readonly p1: LoadShape;
  readonly p2: P2Settings;
  readonly p3: P3Settings;
  readonly p4: P4Settings;
  readonly p5: P5Settings;
  readonly p7: P7Settings;
  readonly watchdogSec: number;
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const mode: Mode = process.env["BENCH_SMOKE"] === "1" ? "smoke" : flag("--quick") ? "quick" : "full";
const only = option("--only")
  ?.split(",")
  .map((s) => s.trim().toUpperCase()) as Id[] | undefined;
const selected = new Set<Id>(only ?? MEASURE_IDS);
const profile = flag("--profile");
const insecure = flag("--insecure");
const outDir = path.resolve(option("--out") ?? path.join(ROOT, "bench", "results"));

/** Two CPUs or more: load generator on CPU 0, server under test on CPU 1 (P1, P2). */
const twoCpus = os.availableParallelism() >= 2 && HAS_TASKSET;
const loadCpus = twoCpus ? "0" : undefined;
const sutCpus = twoCpus ? "1" : undefined;
const allCpus = `0-${os.availableParallelism() - 1}`;

function settingsFor(m: Mode): Settings {
  const shape = (durationSec: number, warmupSec: number, reps: number): LoadShape => ({
    durationSec,
    warmupSec,
    reps,
    connections: 1,
    concurrency: 50,
    loadCpus,
    sutCpus,
  });
  switch (m) {
    case "full":
      return {
        p1: shape(10, 3, 3),
        p2: { ...shape(6, 2, 3), latencyRate: 200, latencyConnections: 8 },
        p3: {
          rates: [100, 250, 500, 750, 1000, 1250],
          stepSec: 15,
          drainSec: 20,
          halfRate: 500,
          tracingRates: [50, 250],
          tracingReps: 2,
        },
        p4: { events: 50_000, reps: 3 },
        p5: { loopMs: 500, reps: 5 },
        p7: { commands: 20_000, reps: 3 },
        watchdogSec: 30 * 60,
      };
    case "quick":
      return {
        p1: shape(4, 2, 2),
        p2: { ...shape(2, 1, 2), latencyRate: 200, latencyConnections: 8 },
        p3: { rates: [100, 250, 500, 1000], stepSec: 5, drainSec: 10, halfRate: 500, tracingRates: [50, 250], tracingReps: 2 },
        p4: { events: 10_000, reps: 2 },
        p5: { loopMs: 150, reps: 3 },
        p7: { commands: 5_000, reps: 2 },
        watchdogSec: 6 * 60,
      };
    case "smoke":
      return {
        p1: shape(1, 1, 1),
        p2: { ...shape(1, 0.5, 1), latencyRate: 100, latencyConnections: 4 },
        p3: { rates: [50, 100], stepSec: 2, drainSec: 8, halfRate: 500, tracingRates: [50], tracingReps: 1 },
        p4: { events: 1_000, reps: 1 },
        p5: { loopMs: 20, reps: 1 },
        p7: { commands: 400, reps: 1 },
        watchdogSec: 3 * 60,
      };
  }
}

const settings = settingsFor(mode);
const started = new Date();
const log = (line: string) => console.error(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)}s] ${line}`);
const measures = new Map<Id, Measure>();
const notes: string[] = [];
let broker: Broker | undefined;
let rabbitmq: BenchRabbitmq | undefined;
let mesh: BenchMesh | undefined;
let sink: SpanSink | undefined;

const watchdog = setTimeout(() => {
  log(`watchdog: the run passed ${settings.watchdogSec} s; stopping everything`);
  void cleanup().finally(() => process.exit(2));
}, settings.watchdogSec * 1000);
watchdog.unref();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function cleanup(): Promise<void> {
  const m = mesh;
  mesh = undefined;
  await m?.stop().catch((error: unknown) => log(`mesh stop failed: ${String(error)}`));
  const s = sink;
  sink = undefined;
  await s?.close();
  const b = broker;
  broker = undefined;
  await b?.release().catch((error: unknown) => log(`broker release failed: ${String(error)}`));
  const r = rabbitmq;
  rabbitmq = undefined;
  await r?.release().catch((error: unknown) => log(`RabbitMQ release failed: ${String(error)}`));
}

/** attempt runs one measure; a failure becomes that measure's error instead of ending the run. */
async function attempt(
  id: Id,
  title: string,
  goal: string,
  unit: string,
  run: () => Promise<Omit<Measure, "id" | "title" | "goal" | "unit">>,
): Promise<void> {
  if (!selected.has(id)) return;
  log(`${id}: ${title}`);
  try {
    measures.set(id, { id, title, goal, unit, ...(await run()) });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`${id} failed: ${message}`);
    measures.set(id, failed(id, title, goal, unit, message.split("\n").slice(0, 3).join(" ")));
  }
}

function failed(id: Id, title: string, goal: string, unit: string, error: string): Measure {
  return {
    id,
    title,
    goal,
    unit,
    value: null,
    baseline: null,
    baselineLabel: null,
    ratio: null,
    goals: [],
    met: false,
    details: {},
    error,
  };
}

const ratioOf = (value: number, baseline: number) => round(value / baseline, 3);
const MIB = 2 ** 20;
const TITLES: Record<Id, [title: string, goal: string, unit: string]> = {
  P1: ["OrderService.GetOrder max QPS (ghz)", "≥ 0.8 of bare grpc-js echo QPS", "QPS"],
  P2: ["gateway REST GET /api/v1/orders/{id} max RPS", "≥ 0.7 of direct gRPC RPS; ≤ 0.3 ms added p50", "RPS"],
  P3: [
    "confirmed orders/s end to end (REST create → WatchOrder CONFIRMED)",
    "≥ 1,000 orders/s; p99 create→CONFIRMED ≤ 100 ms at 500/s",
    "orders/s",
  ],
  P4: ["outbox relay events/s", "≥ 0.7 of a raw batched kafkajs producer", "events/s"],
  P5: ["protobuf bytes vs JSON (one order's events and responses)", "protobuf ≤ 0.5 of JSON bytes", "bytes"],
  P6: ["peak RSS per process at P3 load", "≤ 120 MiB each", "MiB (largest)"],
  P7: ["command relay commands/s to RabbitMQ", "≥ 0.7 of a raw rabbitmq-client publisher with confirms", "commands/s"],
};

async function main(): Promise<void> {
  log(
    `mode ${mode}${profile ? ", profiled" : ""}; measures ${[...selected].join(",")}; ${twoCpus ? `load on CPU ${loadCpus}, server under test on CPU ${sutCpus}` : "no pinning"}`,
  );
  if (!twoCpus) notes.push("Nothing was pinned (fewer than 2 CPUs or no taskset): load generator and servers shared the CPUs.");
  const needsBroker = [...selected].some((id) => id !== "P5" && id !== "P7");
  if (needsBroker) broker = await acquireBroker(log);
  const brokers = broker?.brokers ?? process.env["KAFKA_BROKERS"] ?? "none";
  const machine = describeMachine(brokers);
  if (broker) notes.push(`Kafka: ${broker.origin} at ${broker.brokers}.`);

  await attempt("P5", ...TITLES.P5, async () => {
    const r = runP5(settings.p5);
    const worst = r.sizes.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    const ratio = ratioOf(r.totalProtobufBytes, r.totalJsonBytes);
    const over = r.sizes.filter((s) => s.ratio > 0.5);
    const goals = [
      { text: `one order's messages together: protobuf ${ratio} of JSON bytes (≤ 0.5)`, met: ratio <= 0.5 },
      { text: `every message on its own ≤ 0.5 (worst: ${worst.message} at ${worst.ratio})`, met: over.length === 0 },
    ];
    return {
      value: r.totalProtobufBytes,
      baseline: r.totalJsonBytes,
      baselineLabel: "proto3 JSON bytes",
      ratio,
      goals,
      met: goals.every((g) => g.met),
      details: {
        ...r,
        ...(over.length
          ? {
              explanation:
                `${over.map((s) => `${s.message} ${s.ratio}`).join(", ")} exceed 0.5: these small events are mostly UUID strings ` +
                "(order, payment, reservation ids: 36 bytes either way) and one timestamp; protobuf saves only the field names and quotes. " +
                "Sending ids as 16-byte `bytes` would bring them under 0.5 but is a contract change (proto/), not a benchmark fix.",
            }
          : {}),
      },
    };
  });

  await attempt("P4", ...TITLES.P4, async () => {
    if (!broker) throw new Error("no Kafka broker");
    const r = await runP4(broker.brokers, settings.p4, log);
    const ratio = ratioOf(r.relay.median, r.raw.median);
    const goals = [{ text: `relay ${ratio} × raw producer (≥ 0.7)`, met: ratio >= 0.7 }];
    return {
      value: round(r.relay.median, 0),
      baseline: round(r.raw.median, 0),
      baselineLabel: "raw kafkajs producer",
      ratio,
      goals,
      met: goals[0]!.met,
      details: { ...r },
    };
  });

  await attempt("P7", ...TITLES.P7, async () => {
    rabbitmq ??= await acquireRabbitmq(log);
    notes.push(`RabbitMQ (P7): ${rabbitmq.origin}.`);
    const r = await runP7(rabbitmq.url, settings.p7, log);
    const ratio = ratioOf(r.relay.median, r.raw.median);
    const goals = [{ text: `relay ${ratio} × raw publisher, batches in flight (≥ 0.7)`, met: ratio >= 0.7 }];
    return {
      value: round(r.relay.median, 0),
      baseline: round(r.raw.median, 0),
      baselineLabel: "raw rabbitmq-client publisher, confirms, a batch in flight",
      ratio,
      goals,
      met: goals[0]!.met,
      details: {
        ...r,
        // What the relay itself adds, against a raw publisher that also waits for each confirm before the next.
        ratioToSequential: ratioOf(r.relay.median, r.rawSequential.median),
      },
    };
  });

  const needsMesh = (["P1", "P2", "P3", "P6"] as Id[]).some((id) => selected.has(id));
  let p3: P3Result | undefined;
  let p3Error: string | undefined;
  let p3Tracing: P3TracingCost | undefined;
  let p3TracingError: string | undefined;
  let profileDir: string | undefined;
  let idleRss: Record<string, number> = {};
  if (needsMesh && broker) {
    profileDir = profile ? path.join(outDir, "profiles", stamp(started)) : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    log(`starting the mesh (inventory, payment, order, gateway)${insecure ? " in plaintext (--insecure)" : ""}`);
    mesh = await BenchMesh.start({ brokers: broker.brokers, withGateway: true, profileDir, insecure });
    // Tracing's cost (issue 11) is measured against a sink that counts and drops spans: see bench/lib/span-sink.ts.
    sink = await SpanSink.start();
    const spanSink = sink;
    idleRss = mesh.rss();
    let seeded: SeededOrder | undefined;
    if (selected.has("P1") || selected.has("P2")) {
      seeded = await seedOrder(mesh);
      log(`seeded order ${seeded.orderId}; its GetOrder response is ${seeded.responseBytes} bytes`);
      if (twoCpus) pinMesh(mesh, { order: sutCpus, gateway: sutCpus, inventory: loadCpus, payment: loadCpus });
    }
    const m = mesh;
    await attempt("P1", ...TITLES.P1, async () => {
      const r = await runP1(m, seeded!, settings.p1, log, spanSink);
      const ratio = ratioOf(r.getOrder.rps.median, r.echo.rps.median);
      const goals = [{ text: `GetOrder${r.tlsCost ? " over mTLS" : ""} ${ratio} × bare (plaintext) echo QPS (≥ 0.8)`, met: ratio >= 0.8 }];
      // What TLS costs is reported, not judged: issue 10 asks for a CPU profile when it is over 15 % of throughput.
      const tlsCost = r.tlsCost && {
        ...r.tlsCost,
        overBudget: r.tlsCost.rps < 0.85,
        text:
          `mTLS / plaintext GetOrder: QPS ${r.tlsCost.rps}, p50 ${r.tlsCost.p50Ms}, p99 ${r.tlsCost.p99Ms}` +
          (r.tlsCost.rps < 0.85 ? " — TLS costs more than 15 % of throughput (profile: --profile)" : ""),
      };
      if (tlsCost) log(`P1: ${tlsCost.text}`);
      const tracingCost = r.tracingCost && {
        ...r.tracingCost,
        text:
          `traced / untraced GetOrder: QPS ${r.tracingCost.rps}, p50 ${r.tracingCost.p50Ms}, p99 ${r.tracingCost.p99Ms} ` +
          `(${r.tracingCost.spansExported} spans exported while traced)`,
      };
      if (tracingCost) log(`P1: ${tracingCost.text}`);
      return {
        value: round(r.getOrder.rps.median, 0),
        baseline: round(r.echo.rps.median, 0),
        baselineLabel: `bare grpc-js echo, ${r.responseBytes}-byte response`,
        ratio,
        goals,
        met: goals[0]!.met,
        details: {
          ...r,
          ...(tlsCost ? { tlsCost } : {}),
          ...(tracingCost ? { tracingCost } : {}),
          connections: settings.p1.connections,
          concurrency: settings.p1.concurrency,
        },
      };
    });
    await attempt("P2", ...TITLES.P2, async () => {
      const rows = await runP2(m, seeded!, settings.p2, log);
      const direct = rows.find((r) => r.target === "direct")!;
      const rest = rows.find((r) => r.target === "rest")!;
      if (direct.error || rest.error) throw new Error(direct.error ?? rest.error);
      const ratio = ratioOf(rest.max.rps.median, direct.max.rps.median);
      const addedP50 = round(rest.atRate.p50Ms.median - direct.atRate.p50Ms.median, 3);
      const addedP99 = round(rest.atRate.p99Ms.median - direct.atRate.p99Ms.median, 3);
      const goals = [
        { text: `REST ${ratio} × direct gRPC max RPS (≥ 0.7)`, met: ratio >= 0.7 },
        {
          text: `REST adds ${addedP50} ms at p50 at ${settings.p2.latencyRate} req/s (≤ 0.3 ms); p99 +${addedP99} ms`,
          met: addedP50 <= 0.3,
        },
      ];
      return {
        value: round(rest.max.rps.median, 0),
        baseline: round(direct.max.rps.median, 0),
        baselineLabel: "direct gRPC GetOrder",
        ratio,
        goals,
        met: goals.every((g) => g.met),
        details: { rows, addedP50Ms: addedP50, addedP99Ms: addedP99, latencyRate: settings.p2.latencyRate },
      };
    });
    if (twoCpus) pinMesh(mesh, { order: allCpus, gateway: allCpus, inventory: allCpus, payment: allCpus });
    if (selected.has("P3") || selected.has("P6")) {
      log("P3: the order flow at rising offered rates");
      try {
        p3 = await runP3(m, settings.p3, log);
      } catch (error) {
        p3Error = error instanceof Error ? error.message : String(error);
        log(`P3 failed: ${p3Error}`);
      }
      if (p3) {
        log("P3: the order flow with tracing off and on");
        try {
          p3Tracing = await runP3TracingCost(m, settings.p3, spanSink, log);
          for (const row of p3Tracing.rows)
            log(
              `P3 tracing at ${row.rate}/s: traced / untraced confirmed/s ${row.confirmedPerSec.ratio}, ` +
                `→CONFIRMED p50 ${row.confirmP50Ms.ratio}, p99 ${row.confirmP99Ms.ratio}`,
            );
        } catch (error) {
          p3TracingError = error instanceof Error ? error.message : String(error);
          log(`P3 tracing comparison failed: ${p3TracingError}`);
        }
      }
    }
    for (const name of m.processes.names) {
      const child = m.processes.process(name);
      if (!child.exited) continue;
      const tail = child.tail(4).split("\n").slice(0, -1).join(" | ").slice(0, 600);
      notes.push(`${name} exited during the run (code ${child.exited.code}, signal ${child.exited.signal}); its last output: ${tail}`);
      log(`${name} EXITED during the run: ${tail}`);
    }
  } else if (needsMesh) {
    p3Error = "no Kafka broker";
  }
  await attempt("P3", ...TITLES.P3, async () => {
    if (!p3) throw new Error(p3Error ?? "not run");
    const best = p3.steps.reduce((a, b) => (b.confirmedPerSec > a.confirmedPerSec ? b : a));
    const half = p3.steps.filter((s) => s.offeredRate <= settings.p3.halfRate).at(-1) ?? p3.steps[0]!;
    const judgedAt =
      half.offeredRate === settings.p3.halfRate
        ? `${half.offeredRate}/s`
        : `${half.offeredRate}/s (no ${settings.p3.halfRate}/s step in ${mode} mode)`;
    const goals = [
      {
        text: `best step confirmed ${best.confirmedPerSec} orders/s at ${best.offeredRate}/s offered (≥ 1,000)`,
        met: best.confirmedPerSec >= 1000,
      },
      {
        text: `p99 create→CONFIRMED ${half.confirmP99Ms} ms at ${judgedAt} (≤ 100 ms; ${half.confirmed} of ${half.confirmed + half.failed + half.shed + half.unfinished} confirmed)`,
        met:
          half.offeredRate === settings.p3.halfRate &&
          half.confirmP99Ms <= 100 &&
          half.failed === 0 &&
          half.shed === 0 &&
          half.unfinished === 0,
      },
    ];
    return {
      value: best.confirmedPerSec,
      baseline: null,
      baselineLabel: null,
      ratio: null,
      goals,
      met: goals.every((g) => g.met),
      details: {
        steps: p3.steps,
        ...settings.p3,
        ...(p3Tracing ? { tracingCost: p3Tracing } : {}),
        ...(p3TracingError ? { tracingCostError: p3TracingError } : {}),
      },
    };
  });
  await attempt("P6", ...TITLES.P6, async () => {
    if (!p3) throw new Error(p3Error ?? "not run");
    const peakRssMiB = Object.fromEntries(Object.entries(p3.peakRssBytes).map(([name, bytes]) => [name, round(bytes / MIB, 1)]));
    const largest = Math.max(...Object.values(peakRssMiB));
    const idleRssMiB = Object.fromEntries(Object.entries(idleRss).map(([name, bytes]) => [name, round(bytes / MIB, 1)]));
    const goals = Object.entries(peakRssMiB).map(([name, mib]) => ({ text: `${name} ${mib} MiB (≤ 120)`, met: mib <= 120 }));
    return {
      value: largest,
      baseline: null,
      baselineLabel: null,
      ratio: null,
      goals,
      met: goals.every((g) => g.met),
      details: { peakRssMiB, idleRssMiB },
    };
  });

  await cleanup();
  const profiles: Record<string, ProfileSummary> = {};
  if (profileDir) {
    const sections: string[] = [];
    for (const name of readdirSync(profileDir).filter((d) => statSync(path.join(profileDir!, d)).isDirectory())) {
      // One profile per thread: the main thread's is the one with the most samples (tsx's loader worker is idle).
      const files = readdirSync(path.join(profileDir, name)).filter((f) => f.endsWith(".cpuprofile"));
      const summaries = files.map((f) => summarizeProfile(path.join(profileDir!, name, f)));
      const main = summaries.sort((a, b) => b.samples - (b.idlePct * b.samples) / 100 - (a.samples - (a.idlePct * a.samples) / 100))[0];
      if (!main) continue;
      profiles[name] = main;
      sections.push(profileMarkdown(name, main));
    }
    writeFileSync(path.join(profileDir, "summary.md"), `# CPU profiles (${mode}, ${[...selected].join(",")})\n\n${sections.join("\n")}`);
    log(`profiles: ${path.relative(ROOT, path.join(profileDir, "summary.md"))}`);
  }

  const results: BenchResults = {
    schemaVersion: 1,
    mode,
    profiled: profile,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationSec: round((Date.now() - started.getTime()) / 1000, 1),
    command: `tsx bench/run.ts ${args.join(" ")}`.trim() + (mode === "smoke" ? " (BENCH_SMOKE=1)" : ""),
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)) },
    settings: { ...settings, twoCpus, loadCpus, sutCpus },
    measures: MEASURE_IDS.map((id) => measures.get(id) ?? failed(id, ...TITLES[id], "not selected (--only)")),
    notes: [
      ...notes,
      ...(await meshNotes(needsMesh && broker !== undefined)),
      "P1/P2: ghz and bench/load/http-load.ts run on the load CPU, the order service (and the gateway) on the other; both sides of each ratio get the same CPU budget.",
      ...(insecure ? ["--insecure: the whole mesh ran in plaintext (MESH_INSECURE=1), without certificates or the access policy."] : []),
      "P3/P6: nothing pinned; four Node processes, the Kafka broker and the driver share the machine. WatchOrder is called on the order service directly.",
      "Tracing cost (P1, P3): the traced side runs with TRACING=zipkin exporting to a sink in the bench process that counts and drops the spans (bench/lib/span-sink.ts), so the ratio is what the services pay for their spans, not a Zipkin's own CPU; P3's sides each restart every process and warm it with one untimed step.",
      ...(Object.keys(profiles).length ? [`Profiles: ${Object.keys(profiles).join(", ")} under ${path.relative(ROOT, profileDir!)}.`] : []),
    ],
  };
  const problems = validateResults(results);
  if (problems.length) throw new Error(`results are malformed: ${problems.join("; ")}`);
  mkdirSync(outDir, { recursive: true });
  const base = only ? `only-${[...selected].join("-")}` : "latest";
  let chartFile: string | undefined;
  if (p3 && p3.steps.length > 0) {
    const svg = chartSvg(p3.steps, `P3: order flow on ${machine.nproc} × ${machine.cpuModel.slice(0, 40)} (${mode})`);
    const svgFile = `${base === "latest" ? "p3-latency" : `${base}-p3-latency`}.svg`;
    writeFileSync(path.join(outDir, svgFile), svg);
    const pngFile = svgFile.replace(/\.svg$/, ".png");
    const why = await writePng(svg, path.join(outDir, pngFile));
    if (why) log(why);
    chartFile = why ? svgFile : pngFile;
  }
  const json = `${JSON.stringify({ ...results, profiles }, null, 2)}\n`;
  writeFileSync(path.join(outDir, `${base}.json`), json);
  if (!only) writeFileSync(path.join(outDir, `${stamp(started)}-${mode}.json`), json);
  writeFileSync(path.join(outDir, `${base}.md`), resultsMarkdown(results, chartFile));
  log(`wrote ${path.relative(ROOT, path.join(outDir, `${base}.json`))} and ${base}.md`);
  for (const m of results.measures)
    log(
      `${m.id} ${m.met ? "met   " : "MISSED"} ${m.value ?? "-"} ${m.unit}${m.ratio !== null ? ` (ratio ${m.ratio})` : ""}${m.error ? ` — ${m.error}` : ""}`,
    );
}

function stamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/:/g, "-");
}

main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  async (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    await cleanup();
    process.exit(1);
  },
);
