/**
 * P7: command relay throughput to RabbitMQ (issue 12). N SendOrderEmail commands are committed to an outbox table
 * (OutboxStore.addCommand, a real SQLite file with the services' pragmas) and the command relay (OutboxRelay over the
 * RabbitMQ command bus: publisher confirms, persistent messages, the `shop.commands` exchange) sends them; the time
 * from first claim to the last row marked PUBLISHED gives commands/s. The baseline is a raw `rabbitmq-client`
 * publisher with confirms on the same broker, sending the same messages (body, CloudEvents headers, properties) to the
 * same exchange and queue in batches of the relay's batch size, each batch's publishes in flight together and awaited
 * together: what the client does when nothing else is asked of it, and what the bus now does too. A second
 * baseline, the raw publisher awaiting each confirm before the next publish, as the bus did at first, shows what that
 * caution cost (bench/FINDINGS.md, P7). Runs are interleaved so drift hits all alike; the
 * queue is purged before each run, so every run starts from an empty queue.
 */
import { create } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Connection } from "rabbitmq-client";
import { OrderEmailKind, SendOrderEmailSchema } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { type Command, createRabbitCommandBus, memoryCommandLedger, toCommand } from "#shared/commands/index.js";
import { toCommandHeaders } from "#shared/commands/codec.js";
import { COMMAND_EXCHANGE } from "#shared/commands/rabbitmq-command-bus.js";
import { commandPublisher, OutboxRelay, OutboxStore, outboxSchema } from "#shared/events/outbox.js";
import { openDatabase } from "#shared/store/database.js";
import { summarize, type Summary } from "../lib/stats.js";

/** BENCH_QUEUE keeps benchmark commands off the shop's queues (a notification service on the broker would email them). */
const BENCH_QUEUE = "bench.commands";
/** BATCH is the relay's default batch size (OutboxRelay), used by the baselines too. */
const BATCH = 200;

export interface P7Settings {
  readonly commands: number;
  readonly reps: number;
}

export interface P7Result {
  readonly relay: Summary;
  /** raw: the raw publisher, each batch's publishes in flight together (the ratio's baseline). */
  readonly raw: Summary;
  /** rawSequential: the raw publisher awaiting each confirm before the next publish, as the bus's send does. */
  readonly rawSequential: Summary;
  readonly commands: number;
  readonly batchSize: number;
  readonly bodyBytes: number;
}

function makeCommands(n: number): Command[] {
  return Array.from({ length: n }, () => {
    const orderId = crypto.randomUUID();
    const message = create(SendOrderEmailSchema, {
      orderId,
      customerId: "cust-bench",
      kind: OrderEmailKind.CONFIRMED,
      total: { currencyCode: "EUR", amountMinor: 1_250n },
      reason: "",
    });
    return toCommand(SendOrderEmailSchema, message, {
      id: crypto.randomUUID(),
      source: "shopmesh/order",
      subject: orderId,
      time: new Date(),
    });
  });
}

/** envelope is what the bus publishes for a command (rabbitmq-command-bus.ts `send`), for the raw publisher. */
function envelope(command: Command) {
  return {
    exchange: COMMAND_EXCHANGE,
    routingKey: BENCH_QUEUE,
    durable: true,
    messageId: command.id,
    type: command.type,
    contentType: "application/protobuf",
    timestamp: Math.floor(command.time.getTime() / 1000),
    headers: { ...toCommandHeaders(command), "x-attempt": 1 },
  };
}

/** runP7 measures relay, raw batched and raw sequential commands/s, `reps` times each, after one warm-up of each. */
export async function runP7(rabbitmqUrl: string, settings: P7Settings, log: (line: string) => void): Promise<P7Result> {
  const root = mkdtempSync(path.join(tmpdir(), "shopmesh-bench-p7-"));
  const rabbit = new Connection({ url: rabbitmqUrl, connectionName: "shopmesh-bench-p7-raw" });
  const bus = createRabbitCommandBus({ url: rabbitmqUrl, ledger: memoryCommandLedger(), connectionName: "shopmesh-bench-p7-relay" });
  const publisher = rabbit.createPublisher({ confirm: true });
  let dbs = 0;
  try {
    // The bus declares the queue (and its binding) on its first send; declared here first so the raw runs can start.
    await bus.send(BENCH_QUEUE, makeCommands(1));
    const purge = async () => {
      await rabbit.queuePurge({ queue: BENCH_QUEUE });
    };

    const relayRun = async (n: number): Promise<number> => {
      await purge();
      const db = openDatabase(path.join(root, `outbox-${dbs++}.db`), outboxSchema);
      try {
        const store = new OutboxStore(db, "command");
        const commands = makeCommands(n);
        db.transaction(() => {
          for (const command of commands) store.addCommand(BENCH_QUEUE, command);
        })();
        const relay = new OutboxRelay(store, commandPublisher(bus), { batchSize: BATCH, system: "rabbitmq" });
        const started = performance.now();
        const sent = await relay.flush();
        const seconds = (performance.now() - started) / 1000;
        if (sent !== n) throw new Error(`relay sent ${sent} of ${n} commands`);
        return n / seconds;
      } finally {
        db.close();
      }
    };
    const rawRun = async (n: number, inFlight: "batch" | "one"): Promise<number> => {
      await purge();
      const messages = makeCommands(n).map((command) => ({ envelope: envelope(command), body: Buffer.from(command.data) }));
      const started = performance.now();
      for (let i = 0; i < messages.length; i += BATCH) {
        const batch = messages.slice(i, i + BATCH);
        if (inFlight === "batch") await Promise.all(batch.map((m) => publisher.send(m.envelope, m.body)));
        else for (const m of batch) await publisher.send(m.envelope, m.body);
      }
      return n / ((performance.now() - started) / 1000);
    };

    const warm = Math.min(1_000, settings.commands);
    await relayRun(warm);
    await rawRun(warm, "batch");
    await rawRun(warm, "one");
    const relay: number[] = [];
    const raw: number[] = [];
    const rawSequential: number[] = [];
    for (let rep = 0; rep < settings.reps; rep++) {
      raw.push(await rawRun(settings.commands, "batch"));
      relay.push(await relayRun(settings.commands));
      rawSequential.push(await rawRun(settings.commands, "one"));
      log(
        `P7 rep ${rep + 1}: relay ${relay.at(-1)!.toFixed(0)} commands/s, raw publisher ${raw.at(-1)!.toFixed(0)} (batched), ` +
          `${rawSequential.at(-1)!.toFixed(0)} (one confirm at a time)`,
      );
    }
    return {
      relay: summarize(relay),
      raw: summarize(raw),
      rawSequential: summarize(rawSequential),
      commands: settings.commands,
      batchSize: BATCH,
      bodyBytes: makeCommands(1)[0]!.data.length,
    };
  } finally {
    await rabbit.queueDelete({ queue: BENCH_QUEUE }).catch(() => undefined);
    await publisher.close();
    await rabbit.close();
    await bus.close();
    rmSync(root, { recursive: true, force: true });
  }
}
