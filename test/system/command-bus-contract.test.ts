/**
 * One contract for the command bus (services/shared/src/commands), run against both adapters on real brokers:
 * RabbitMQ (scripts/rabbitmq.sh) and SNS → SQS on goaws (scripts/goaws.sh), each started here on free ports and
 * stopped at the end. Every test uses queues of its own. A broker that cannot start fails the suite, saying why.
 */
import { SQSClient, GetQueueUrlCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { Connection } from "rabbitmq-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCommandBusSettings } from "#shared/config.js";
import {
  type Command,
  type CommandBus,
  CommandBusUnavailableError,
  type CommandConsumer,
  type CommandRetryPolicy,
  createCommandBus,
  type IncomingCommand,
  memoryCommandLedger,
} from "#shared/commands/index.js";
import { COMMAND_EXCHANGE } from "#shared/commands/rabbitmq-command-bus.js";
import { sqsName } from "#shared/commands/sqs-command-bus.js";
import { freePort } from "../../scripts/mesh/free-port.js";
import { waitUntil } from "../../scripts/mesh/wait.js";
import { script } from "./daemons.js";

/** Broker is one adapter's real broker: how to reach it, restart it, and put a message on a queue behind the bus's back. */
interface Broker {
  readonly env: Record<string, string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** sendRaw puts a message that is not a command on the queue (what a buggy or foreign producer might send). */
  sendRaw(queue: string, body: string): Promise<void>;
}

async function rabbitBroker(): Promise<Broker> {
  const [nodePort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  const scriptEnv = { RABBITMQ_NODE_PORT: String(nodePort), RABBITMQ_DIST_PORT: String(distPort), ERL_EPMD_PORT: String(epmdPort) };
  const url = `amqp://guest:guest@127.0.0.1:${nodePort}`;
  return {
    env: { COMMAND_BUS: "rabbitmq", RABBITMQ_URL: url },
    start: async () => {
      const started = await script("rabbitmq.sh", "start", scriptEnv);
      expect(started.code, started.output).toBe(0);
    },
    stop: async () => {
      const stopped = await script("rabbitmq.sh", "stop", scriptEnv);
      expect(stopped.code, stopped.output).toBe(0);
    },
    sendRaw: async (queue, body) => {
      const rabbit = new Connection(url);
      const publisher = rabbit.createPublisher({ confirm: true });
      try {
        await publisher.send({ exchange: COMMAND_EXCHANGE, routingKey: queue, headers: { note: "no CloudEvents headers" } }, body);
      } finally {
        await publisher.close();
        await rabbit.close();
      }
    },
  };
}

async function goawsBroker(): Promise<Broker> {
  const port = await freePort();
  const scriptEnv = { GOAWS_PORT: String(port) };
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    env: { COMMAND_BUS: "sqs", SQS_ENDPOINT: endpoint },
    start: async () => {
      const started = await script("goaws.sh", "start", scriptEnv);
      expect(started.code, started.output).toBe(0);
    },
    stop: async () => {
      const stopped = await script("goaws.sh", "stop", scriptEnv);
      expect(stopped.code, stopped.output).toBe(0);
    },
    sendRaw: async (queue, body) => {
      const sqs = new SQSClient({ endpoint, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "x" } });
      try {
        const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: sqsName(queue) }));
        await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
      } finally {
        sqs.destroy();
      }
    },
  };
}

/** RETRY: three calls, 1 s then 2 s apart (whole seconds, which SQS needs), so a parked command takes about 3 s. */
const RETRY: CommandRetryPolicy = { attempts: 3, initialDelayMs: 1_000, maxDelayMs: 2_000 };

function command(subject: string, text: string, id: string = crypto.randomUUID()): Command {
  return { id, type: "test.v1.Note", source: "shopmesh/contract-test", subject, time: new Date(), data: new TextEncoder().encode(text) };
}

const text = (incoming: IncomingCommand): string => new TextDecoder().decode(incoming.data);

describe.each([
  { name: "rabbitmq", makeBroker: rabbitBroker },
  { name: "sqs (SNS → SQS on goaws)", makeBroker: goawsBroker },
])("command bus contract: $name", ({ makeBroker }) => {
  let broker: Broker;
  let bus: CommandBus;
  const consumers: CommandConsumer[] = [];

  const newBus = (): CommandBus =>
    // A short long-poll (SQS) so that a consumer's close never waits long; the same code as production otherwise.
    createCommandBus(readCommandBusSettings({ ...broker.env, COMMAND_SEND_TIMEOUT_MS: "3000" }), {
      ledger: memoryCommandLedger(),
      waitTimeSeconds: 1,
    });

  /** consume starts a consumer on a fresh queue that records every call; `fail` decides which calls throw. */
  async function consume(
    fail: (incoming: IncomingCommand) => string | undefined = () => undefined,
    options: { queue?: string; onBus?: CommandBus; workMs?: () => number } = {},
  ) {
    const queue = options.queue ?? `contract.${crypto.randomUUID().slice(0, 8)}`;
    const calls: IncomingCommand[] = [];
    const callTimes: number[] = [];
    const handled: IncomingCommand[] = [];
    const consumer = await (options.onBus ?? bus).consume({
      queue,
      retry: RETRY,
      prefetch: 5,
      handle: async (incoming) => {
        calls.push(incoming);
        callTimes.push(performance.now());
        const workMs = options.workMs?.() ?? 0;
        if (workMs > 0) await new Promise((resolve) => setTimeout(resolve, workMs));
        const failure = fail(incoming);
        if (failure !== undefined) throw new Error(failure);
        handled.push(incoming);
      },
    });
    consumers.push(consumer);
    return { queue, calls, callTimes, handled };
  }

  beforeAll(async () => {
    broker = await makeBroker();
    await broker.start();
    bus = newBus();
  }, 180_000);

  afterAll(async () => {
    for (const consumer of consumers.splice(0)) await consumer.close().catch(() => undefined);
    await bus?.close();
    await broker?.stop();
  }, 120_000);

  it("delivers a command sent twice (same id) once", async () => {
    const { queue, calls } = await consume();
    const twice = command("order-1", "confirmed");
    await bus.send(queue, [twice]);
    await bus.send(queue, [twice]);
    // One consumer, one command at a time, in order: once the marker sent last is handled, the duplicate was too.
    const marker = command("order-1", "marker");
    await bus.send(queue, [marker]);
    await waitUntil(() => calls.some((call) => call.id === marker.id), { message: "the marker handled" });
    expect(calls.map((call) => call.id)).toEqual([twice.id, marker.id]);
    expect(calls[0]).toMatchObject({ type: "test.v1.Note", source: "shopmesh/contract-test", subject: "order-1", attempt: 1, queue });
    expect(text(calls[0]!)).toBe("confirmed");
  });

  it("retries a failing handler with backoff, parks it with the reason, and a replay delivers it once", async () => {
    let sinkDown = true;
    const { queue, calls, callTimes, handled } = await consume(() => (sinkDown ? "SMTP sink refused the connection" : undefined));
    const cmd = command("order-2", "email");
    await bus.send(queue, [cmd]);

    const parked = await waitUntil(async () => ((await bus.parked(queue)).length > 0 ? bus.parked(queue) : undefined), {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: "the command in the parking lot",
    });
    expect(parked).toHaveLength(1);
    expect(parked[0]).toMatchObject({ messageId: cmd.id, attempts: 3, command: { id: cmd.id, subject: "order-2" } });
    expect(parked[0]!.reason).toContain("SMTP sink refused the connection");
    expect(calls.map((call) => call.attempt)).toEqual([1, 2, 3]);
    // The backoff: at least 1 s, then at least 2 s between the calls (less 100 ms for the brokers' timer granularity).
    expect(callTimes[1]! - callTimes[0]!).toBeGreaterThanOrEqual(900);
    expect(callTimes[2]! - callTimes[1]!).toBeGreaterThanOrEqual(1_900);
    expect(handled).toHaveLength(0);
    // Listing leaves the command parked.
    expect(await bus.parked(queue)).toHaveLength(1);

    sinkDown = false;
    expect(await bus.replay(queue)).toBe(1);
    await waitUntil(() => handled.length > 0, { message: "the replayed command handled" });
    expect(handled.map((call) => [call.id, call.attempt])).toEqual([[cmd.id, 1]]);
    expect(await bus.parked(queue)).toEqual([]);
    expect(await bus.replay(queue)).toBe(0);
    // A second delivery of the replayed command would come before this marker.
    const marker = command("order-2", "marker");
    await bus.send(queue, [marker]);
    await waitUntil(() => handled.some((call) => call.id === marker.id), { message: "the marker handled" });
    expect(handled.map((call) => call.id)).toEqual([cmd.id, marker.id]);
  });

  it("parks a malformed message with the reason, without calling the handler", async () => {
    const { queue, calls } = await consume();
    await broker.sendRaw(queue, "this is not a command");
    const parked = await waitUntil(
      async () => {
        const listed = await bus.parked(queue);
        return listed.length > 0 ? listed : undefined;
      },
      { intervalMs: 250, message: "the malformed message in the parking lot" },
    );
    expect(parked).toHaveLength(1);
    expect(parked[0]!.command).toBeUndefined();
    expect(parked[0]!.reason).toMatch(/^malformed: /);
    expect(parked[0]!.attempts).toBe(0);
    expect(calls).toEqual([]);
    // It cannot be replayed: it stays parked.
    expect(await bus.replay(queue)).toBe(0);
    expect(await bus.parked(queue)).toHaveLength(1);
  });
  it("reports its figures: ready while waiting, unacked while held, retrying during a backoff, parked; and observes each outcome", async () => {
    const queue = `contract.${crypto.randomUUID().slice(0, 8)}`;
    const figures = () => bus.figures(queue);
    expect(await figures()).toMatchObject({ queue, ready: 0, unacked: 0, retrying: 0, parked: 0 });
    await bus.declare(queue, RETRY);
    const held = command("order-f", "held");
    const failing = command("order-f", "failing");
    await bus.send(queue, [held, failing]);
    await waitUntil(async () => (await figures()).ready === 2, { intervalMs: 100, message: "two commands ready" });

    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const outcomes: string[] = [];
    consumers.push(
      await bus.consume({
        queue,
        retry: RETRY,
        prefetch: 5,
        observe: (outcome) => outcomes.push(outcome),
        handle: async (incoming) => {
          if (incoming.id === held.id) return gate;
          throw new Error("SMTP sink refused the connection");
        },
      }),
    );
    // The first is in the handler, the second delivered behind it: both unacked, none ready.
    await waitUntil(
      async () => {
        const now = await figures();
        return now.ready === 0 && now.unacked === 2;
      },
      { intervalMs: 100, message: "both commands delivered and held" },
    );

    release();
    // The failing one waits out its backoff: in a retry queue (RabbitMQ), or delayed on its own queue (SQS; goaws,
    // which cannot tell delayed from received, counts it as unacked).
    await waitUntil(
      async () => {
        const now = await figures();
        return now.retrying + now.unacked === 1 && now.ready === 0 && now;
      },
      { intervalMs: 100, message: "the failing command waiting out its backoff" },
    );
    // Parked and nothing else left: parking and acknowledging are two steps, so poll until both are done.
    const parked = await waitUntil(
      async () => {
        const now = await figures();
        return now.parked === 1 && now.unacked === 0 && now.retrying === 0 && now;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: "the failing command parked" },
    );
    await waitUntil(() => outcomes.length === 4, { message: "four outcomes observed" });

    expect(parked).toMatchObject({ ready: 0, unacked: 0, retrying: 0, parked: 1 });
    expect(outcomes).toEqual(["handled", "retried", "retried", "parked"]);
  });

  it("handles the commands of each subject in the order they were sent", async () => {
    // A handler that takes a varying time: concurrent handling would reorder.
    const { queue, handled } = await consume(undefined, { workMs: () => Math.random() * 5 });
    const subjects = ["order-a", "order-b", "order-c"];
    const sent: Command[] = [];
    for (let round = 0; round < 4; round++) {
      const batch = subjects.flatMap((subject) => [0, 1].map((i) => command(subject, `${subject}#${round * 2 + i}`)));
      sent.push(...batch);
      await bus.send(queue, batch);
    }
    await waitUntil(() => handled.length === sent.length, { timeoutMs: 30_000, message: `${sent.length} commands handled` });
    for (const subject of subjects) {
      const expected = sent.filter((c) => c.subject === subject).map((c) => new TextDecoder().decode(c.data));
      expect(handled.filter((c) => c.subject === subject).map(text), subject).toEqual(expected);
    }
  });

  it("while the broker is stopped a send fails within its bound, saying so; after the restart sends and handling work again", {
    timeout: 180_000,
  }, async () => {
    const { queue, handled } = await consume();
    const before = command("order-d", "before");
    await bus.send(queue, [before]);
    await waitUntil(() => handled.length === 1, { message: "the first command handled" });

    await broker.stop();
    const started = performance.now();
    const failed = await bus.send(queue, [command("order-d", "during")]).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(CommandBusUnavailableError);
    expect((failed as Error).message).toMatch(/^sending 1 command\(s\) to contract\./);
    // COMMAND_SEND_TIMEOUT_MS is 3 s here: the send gives up, it does not hang.
    expect(performance.now() - started).toBeLessThan(10_000);

    await broker.start();
    const after = command("order-d", "after");
    // The client reconnects by itself; until it has, a send fails as above and the caller (the outbox) tries again.
    await waitUntil(
      async () => {
        await bus.send(queue, [after]);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: "a send after the restart" },
    );
    await waitUntil(() => handled.some((c) => c.id === after.id), {
      timeoutMs: 60_000,
      message: "the command sent after the restart handled",
    });
    expect(handled.map((c) => c.id)).toEqual([before.id, after.id]);
  });
});

describe("rabbitmq adapter: replicas of one consumer", () => {
  let broker: Broker;
  const buses: CommandBus[] = [];
  beforeAll(async () => {
    broker = await rabbitBroker();
    await broker.start();
  }, 180_000);
  afterAll(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    await broker?.stop();
  }, 120_000);

  it("two replicas on one queue: one is active (single active consumer), so the order per subject holds; when it stops, the other takes over", async () => {
    const settings = readCommandBusSettings(broker.env);
    const replica = () => {
      const bus = createCommandBus(settings, { ledger: memoryCommandLedger() });
      buses.push(bus);
      return bus;
    };
    const [first, second] = [replica(), replica()];
    const queue = `contract.${crypto.randomUUID().slice(0, 8)}`;
    const handledBy: { replica: string; command: IncomingCommand }[] = [];
    const handler = (name: string) => async (incoming: IncomingCommand) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
      handledBy.push({ replica: name, command: incoming });
    };
    const firstConsumer = await first.consume({ queue, handle: handler("first"), retry: RETRY });
    await second.consume({ queue, handle: handler("second"), retry: RETRY });

    const sent = Array.from({ length: 20 }, (_, i) => command(`order-${i % 2}`, `#${i}`));
    await first.send(queue, sent);
    await waitUntil(() => handledBy.length === sent.length, { timeoutMs: 30_000, message: "all commands handled" });
    expect(new Set(handledBy.map((h) => h.replica))).toEqual(new Set(["first"]));
    for (const subject of ["order-0", "order-1"]) {
      expect(handledBy.filter((h) => h.command.subject === subject).map((h) => text(h.command))).toEqual(
        sent.filter((c) => c.subject === subject).map((c) => new TextDecoder().decode(c.data)),
      );
    }

    await firstConsumer.close();
    const later = command("order-0", "after the failover");
    await first.send(queue, [later]);
    await waitUntil(() => handledBy.some((h) => h.command.id === later.id), { message: "the command after the failover" });
    expect(handledBy.at(-1)?.replica).toBe("second");
  });
});
