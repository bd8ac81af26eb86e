import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { renderTimeline } from "../src/why/render.js";
import { buildTimeline, type GroupView, type OutboxRow, type TimelineSources } from "../src/why/timeline.js";

const ORDER_ID = "7d1c6f0e-0000-4000-8000-000000000002";

const created: OutboxRow = {
  eventId: "evt-created",
  type: "shop.order.v1.OrderCreated",
  topic: "shop.order.v1.events",
  state: "PUBLISHED",
  timesSent: 1,
  lastError: "",
  createTime: "2026-12-01T10:00:00.010Z",
  publishTime: "2026-12-01T10:00:00.050Z",
  partition: 2,
  offset: "41",
  traceId: "0af7651916cd43dd8448eb211c80319c",
};

const paymentGroup: GroupView = {
  groupId: "shopmesh-payment",
  service: "payment",
  state: "Empty",
  members: 0,
  committed: new Map([["shop.order.v1.events/2", "30"]]),
  topics: ["shop.order.v1.events"],
};

function sources(over: Partial<TimelineSources> = {}): TimelineSources {
  return {
    services: ["order", "payment", "inventory"],
    order: async () => ({
      orderId: ORDER_ID,
      customerId: "c-42",
      status: "AWAITING_PAYMENT",
      cancelReason: "",
      createTime: "2026-12-01T10:00:00.000Z",
      history: [{ status: "AWAITING_PAYMENT", time: "2026-12-01T10:00:00.000Z", reason: "order created" }],
    }),
    reservation: async () => ({ status: "HELD", createTime: "2026-12-01T09:59:59.990Z", updateTime: "2026-12-01T09:59:59.990Z" }),
    payments: async () => [],
    outbox: async (service) => (service === "order" ? [created] : []),
    handled: async () => [],
    groups: async () => [paymentGroup],
    deadLetters: async () => [],
    notifications: async () => [],
    parkedCommands: async () => [],
    spans: async () => [],
    ...over,
  };
}

describe("buildTimeline", () => {
  it("when a consumer group has not committed past the event, then it is placed behind it, and the entries are in time order", async () => {
    const timeline = await buildTimeline(ORDER_ID, sources(), new Date("2026-12-01T10:05:00.000Z"));
    const [position] = timeline.events[0]?.consumers ?? [];
    expect(position).toMatchObject({ groupId: "shopmesh-payment", committed: "30", passed: false, behind: 12, members: 0 });
    expect(timeline.diagnosis.text).toBe(
      "waiting for payment: its consumer shopmesh-payment is stopped (group Empty, no members), 12 events behind; start payment",
    );
    const times = timeline.entries.map((entry) => entry.time);
    expect(times).toEqual([...times].sort());
    expect(timeline.entries.map((entry) => entry.text)).toEqual([
      "stock reserved",
      "order AWAITING_PAYMENT: order created",
      "OrderCreated written to order's outbox",
      "OrderCreated published to shop.order.v1.events partition 2 offset 41",
      "shopmesh-payment has not reached OrderCreated: 12 events behind it (group Empty, no members: stopped)",
    ]);
    expect(renderTimeline(timeline).split("\n").at(-1)).toBe(`diagnosis: ${timeline.diagnosis.text}`);
  });

  it("when a group committed past the event and its inbox has it, then it is passed and handled", async () => {
    const timeline = await buildTimeline(
      ORDER_ID,
      sources({
        groups: async () => [{ ...paymentGroup, state: "Stable", members: 1, committed: new Map([["shop.order.v1.events/2", "42"]]) }],
        handled: async (service) =>
          service === "payment"
            ? [{ service, eventId: "evt-created", consumer: "payment.order-created", time: "2026-12-01T10:00:00.080Z" }]
            : [],
      }),
    );
    expect(timeline.events[0]?.consumers[0]).toMatchObject({ passed: true, behind: 0, handledBy: ["payment.order-created"] });
    expect(timeline.entries.map((entry) => entry.text)).toContain("OrderCreated handled by payment.order-created");
  });

  it("when Zipkin, Kafka and a service's outbox fail, then each is a line and a source report, and the timeline still comes", async () => {
    const timeline = await buildTimeline(
      ORDER_ID,
      sources({
        spans: async () => {
          throw new Error("Zipkin at http://127.0.0.1:1 not reachable: fetch failed");
        },
        groups: async () => {
          throw new Error("Kafka admin did not answer within 3000 ms");
        },
        outbox: async (service) => {
          if (service === "payment") throw new ConnectError("connect ECONNREFUSED", Code.Unavailable);
          return service === "order" ? [created] : [];
        },
      }),
    );
    expect(timeline.sources.filter((source) => !source.ok).map((source) => source.source)).toEqual(["kafka", "payment outbox", "zipkin"]);
    expect(timeline.entries.filter((entry) => entry.source === "source").map((entry) => entry.text)).toEqual([
      "kafka not reachable: Kafka admin did not answer within 3000 ms",
      "payment outbox not reachable: Unavailable: connect ECONNREFUSED",
      "zipkin not reachable: Zipkin at http://127.0.0.1:1 not reachable: fetch failed",
    ]);
    expect(timeline.events[0]?.consumers).toEqual([]);
  });

  it("when the order cannot be read, then the timeline rejects with that error", async () => {
    const missing = sources({
      order: async () => {
        throw new ConnectError("order not found", Code.NotFound);
      },
    });
    await expect(buildTimeline(ORDER_ID, missing)).rejects.toMatchObject({ code: Code.NotFound });
  });
});
