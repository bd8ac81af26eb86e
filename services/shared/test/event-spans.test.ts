// The kit's event spans (services/shared/src/tracing/messaging-spans.ts), in-process with fakes for the bus: the
// relay's PRODUCER span continues the outbox row's writer and its id is what the event's `traceparent` carries; the
// consumer's CONSUMER span hangs under it, one per handler attempt, an error when the handler threw.
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { subscribeHandlers, eventHandler } from "#shared/events/consumer.js";
import type { EventBus, IncomingEvent, OutgoingEvent, SubscribeOptions } from "#shared/events/event-bus.js";
import { commandPublisher, OutboxRelay, OutboxStore, outboxSchema } from "#shared/events/outbox.js";
import type { Command } from "#shared/commands/index.js";
import { openDatabase } from "#shared/store/database.js";
import { currentTrace, parseTraceparent, writerTraceparent, type TraceContext } from "#shared/trace-context.js";
import { createTracing, type Tracing } from "#shared/tracing/index.js";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { toBinary, create } from "@bufbuild/protobuf";

const WRITER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

const tracings: Tracing[] = [];
afterEach(async () => {
  await Promise.all(tracings.splice(0).map((t) => t.shutdown()));
});

function traced(): { tracing: Tracing; spans(): Promise<ReadableSpan[]> } {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ mode: "off" }, { serviceName: "test", exporter })!;
  tracings.push(tracing);
  return {
    tracing,
    spans: async () => {
      await tracing.flush();
      return exporter.getFinishedSpans();
    },
  };
}

/** flakyBus fails its first `failures` publishes (a broker that is down) and records what it sent afterwards. */
function flakyBus(failures: number): Pick<EventBus, "publish"> & { sent: { topic: string; event: OutgoingEvent }[] } {
  const sent: { topic: string; event: OutgoingEvent }[] = [];
  let left = failures;
  return {
    sent,
    async publish(topic, events) {
      if (left-- > 0) throw new Error("connect ECONNREFUSED 127.0.0.1:9092");
      for (const event of events) sent.push({ topic, event });
    },
  };
}

function outboxWithOneRow(traceparent: string | undefined, time: Date) {
  const db = openDatabase(":memory:", outboxSchema);
  const store = new OutboxStore(db);
  store.add({
    id: "evt-1",
    topic: "shop.order.v1.events",
    type: "shop.order.v1.OrderCreated",
    source: "shopmesh/order",
    subject: "order-1",
    time,
    data: new Uint8Array(),
    traceparent,
  });
  return { db, store };
}

describe("the relay's PRODUCER span", () => {
  it("when a row is published after a failed attempt, then one send span from the row's writing to the ack, child of the writer, whose id the event carries", async () => {
    // Arrange
    const { tracing, spans } = traced();
    const writtenAt = new Date(Date.now() - 5_000);
    const { db, store } = outboxWithOneRow(WRITER, writtenAt);
    const bus = flakyBus(1);
    const relay = new OutboxRelay(store, bus, { spans: tracing.spans });

    // Act: the first flush fails (the broker is down), the second gets through.
    expect(await relay.flush()).toBe(0);
    expect(await relay.flush()).toBe(1);

    // Assert
    const [send, ...others] = await spans();
    expect(others).toEqual([]);
    expect(send?.kind).toBe(SpanKind.PRODUCER);
    expect(send?.name).toBe("send shop.order.v1.events");
    expect(send?.spanContext().traceId).toBe(parseTraceparent(WRITER)?.traceId);
    expect(send?.parentSpanContext?.spanId).toBe(parseTraceparent(WRITER)?.spanId);
    expect(parseTraceparent(bus.sent[0]?.event.traceparent)?.spanId).toBe(send?.spanContext().spanId);
    expect(send?.attributes).toMatchObject({
      "messaging.system": "kafka",
      "messaging.destination.name": "shop.order.v1.events",
      "messaging.message.id": "evt-1",
      "messaging.kafka.message.key": "order-1",
      "cloudevents.event_type": "shop.order.v1.OrderCreated",
      "shop.outbox.attempts": 2,
      "shop.outbox.last_error": "connect ECONNREFUSED 127.0.0.1:9092",
    });
    const startMs = send!.startTime[0] * 1_000 + send!.startTime[1] / 1e6;
    expect(Math.abs(startMs - writtenAt.getTime())).toBeLessThan(1);
    db.close();
  });

  it("when a command row is sent through the command bus, then its send span names RabbitMQ and the queue, child of the writer, whose id the command carries", async () => {
    const { tracing, spans } = traced();
    const db = openDatabase(":memory:", outboxSchema);
    const command: Command = {
      id: "cmd-1",
      type: "shop.notification.v1.SendOrderEmail",
      source: "shopmesh/order",
      subject: "order-1",
      time: new Date(),
      data: new Uint8Array(),
      traceparent: WRITER,
    };
    new OutboxStore(db).addCommand("notification.email", command);
    const sent: Command[] = [];
    const relay = new OutboxRelay(
      new OutboxStore(db, "command"),
      commandPublisher({ send: async (_queue, commands) => void sent.push(...commands) }),
      {
        spans: tracing.spans,
        system: "rabbitmq",
      },
    );

    expect(await relay.flush()).toBe(1);

    const [send, ...others] = await spans();
    expect(others).toEqual([]);
    expect(send?.kind).toBe(SpanKind.PRODUCER);
    expect(send?.name).toBe("send notification.email");
    expect(send?.parentSpanContext?.spanId).toBe(parseTraceparent(WRITER)?.spanId);
    expect(parseTraceparent(sent[0]?.traceparent)?.spanId).toBe(send?.spanContext().spanId);
    expect(send?.attributes).toMatchObject({
      "messaging.system": "rabbitmq",
      "messaging.destination.name": "notification.email",
      "messaging.message.id": "cmd-1",
      "shop.command.subject": "order-1",
    });
    expect(send?.attributes["messaging.kafka.message.key"]).toBeUndefined();
    db.close();
  });

  it("when tracing is off, then the event still carries a child of the writer, so consumers continue the trace", async () => {
    const { db, store } = outboxWithOneRow(WRITER, new Date());
    const bus = flakyBus(0);

    await new OutboxRelay(store, bus).flush();

    const sent = parseTraceparent(bus.sent[0]?.event.traceparent);
    expect(sent?.traceId).toBe(parseTraceparent(WRITER)?.traceId);
    expect(sent?.spanId).not.toBe(parseTraceparent(WRITER)?.spanId);
    db.close();
  });
});

/** handOver is a bus whose one subscription the test drives by hand, one handler attempt per call. */
function handOver(): EventBus & { deliver(event: IncomingEvent): Promise<void> } {
  let handle: SubscribeOptions["handle"] | undefined;
  return {
    async publish() {},
    async subscribe(options) {
      handle = options.handle;
      return { close: async () => {} };
    },
    async close() {},
    deliver: (event) => handle!(event),
  };
}

describe("the consumer's CONSUMER span", () => {
  it("when a handler fails once and then succeeds, then two process spans under the producer's, the first an error, each the context the handler ran in", async () => {
    // Arrange
    const { tracing, spans } = traced();
    const bus = handOver();
    const seen: (TraceContext | undefined)[] = [];
    let calls = 0;
    await subscribeHandlers(bus, {
      service: "payment",
      groupId: "shopmesh-payment",
      topics: ["shop.order.v1.events"],
      handlers: [
        eventHandler(EmptySchema, () => {
          seen.push(currentTrace());
          if (++calls === 1) throw new Error("payment store is busy");
        }),
      ],
      spans: tracing.spans,
    });
    const producer = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
    const event: IncomingEvent = {
      id: "evt-2",
      type: EmptySchema.typeName,
      source: "shopmesh/order",
      subject: "order-2",
      time: new Date(),
      data: toBinary(EmptySchema, create(EmptySchema)),
      traceparent: producer,
      topic: "shop.order.v1.events",
      partition: 1,
      offset: "42",
      headers: {},
    };

    // Act: the bus's retry calls the handler twice.
    await expect(bus.deliver(event)).rejects.toThrow("payment store is busy");
    await bus.deliver(event);

    // Assert
    const process = await spans();
    expect(process.map((s) => s.kind)).toEqual([SpanKind.CONSUMER, SpanKind.CONSUMER]);
    expect(process.map((s) => s.parentSpanContext?.spanId)).toEqual(["00f067aa0ba902b7", "00f067aa0ba902b7"]);
    expect(process.map((s) => s.spanContext().spanId)).toEqual(seen.map((c) => c?.spanId));
    expect(process[0]?.status).toEqual({ code: SpanStatusCode.ERROR, message: "payment store is busy" });
    expect(process[1]?.status.code).toBe(SpanStatusCode.UNSET);
    expect(process[1]?.name).toBe("process shop.order.v1.events");
    expect(process[1]?.attributes).toMatchObject({
      "messaging.consumer.group.name": "shopmesh-payment",
      "messaging.destination.partition.id": "1",
      "messaging.kafka.offset": 42,
      "messaging.message.id": "evt-2",
      "messaging.kafka.message.key": "order-2",
    });
  });

  it("when an outbox row is written while handling, then it names the CONSUMER span as its writer", async () => {
    const { tracing, spans } = traced();
    const bus = handOver();
    let written: string | undefined;
    await subscribeHandlers(bus, {
      service: "order",
      groupId: "shopmesh-order",
      topics: ["t"],
      handlers: [
        eventHandler(EmptySchema, () => {
          written = writerTraceparent();
        }),
      ],
      spans: tracing.spans,
    });
    await bus.deliver({
      id: "evt-3",
      type: EmptySchema.typeName,
      source: "s",
      subject: "o",
      time: new Date(),
      data: new Uint8Array(),
      topic: "t",
      partition: 0,
      offset: "0",
      headers: {},
    });

    const [consumer] = await spans();
    expect(parseTraceparent(written)?.spanId).toBe(consumer?.spanContext().spanId);
  });
});
