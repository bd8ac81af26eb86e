import { describe, expect, it } from "vitest";
import { diagnose } from "../src/why/diagnosis.js";
import type { ConsumerPosition, EventFacts, TimelineFacts } from "../src/why/model.js";

const ORDER_ID = "7d1c6f0e-0000-4000-8000-000000000001";

function facts(over: Partial<TimelineFacts> = {}): TimelineFacts {
  return {
    order: {
      orderId: ORDER_ID,
      customerId: "c-42",
      status: "AWAITING_PAYMENT",
      cancelReason: "",
      createTime: "2026-12-01T10:00:00.000Z",
      history: [{ status: "AWAITING_PAYMENT", time: "2026-12-01T10:00:00.000Z", reason: "order created" }],
    },
    reservation: { status: "HELD", createTime: "2026-12-01T09:59:59.900Z", updateTime: "2026-12-01T09:59:59.900Z" },
    payments: [],
    events: [],
    deadLetters: [],
    notifications: [],
    parkedCommands: [],
    spans: [],
    sources: [],
    ...over,
  };
}

function position(over: Partial<ConsumerPosition> = {}): ConsumerPosition {
  return {
    groupId: "shopmesh-payment",
    service: "payment",
    committed: "10",
    passed: false,
    behind: 1,
    state: "Stable",
    members: 1,
    handledBy: [],
    handledAt: null,
    ...over,
  };
}

function orderCreated(over: Partial<EventFacts> = {}): EventFacts {
  return {
    service: "order",
    eventId: "evt-created",
    type: "shop.order.v1.OrderCreated",
    name: "OrderCreated",
    topic: "shop.order.v1.events",
    state: "PUBLISHED",
    timesSent: 1,
    lastError: "",
    createTime: "2026-12-01T10:00:00.000Z",
    publishTime: "2026-12-01T10:00:00.050Z",
    partition: 1,
    offset: "1212",
    traceId: "0af7651916cd43dd8448eb211c80319c",
    consumers: [position()],
    ...over,
  };
}

describe("diagnose", () => {
  it("when the order is confirmed, then it says confirmed", () => {
    const confirmed = facts({
      order: { ...facts().order, status: "CONFIRMED" },
      events: [orderCreated({ consumers: [position({ passed: true, behind: 0 })] })],
    });
    expect(diagnose(confirmed)).toEqual({ state: "confirmed", text: "confirmed" });
  });

  it("when the payment was declined, then the cancellation names the decline and its reason", () => {
    const declined = facts({
      order: { ...facts().order, status: "CANCELLED", cancelReason: "payment declined" },
      payments: [
        {
          paymentId: "p-1",
          status: "DECLINED",
          declineReason: "card declined",
          createTime: "2026-12-01T10:00:01.000Z",
          updateTime: "2026-12-01T10:00:01.000Z",
        },
      ],
    });
    expect(diagnose(declined)).toEqual({ state: "cancelled", text: "cancelled: payment declined (card declined)" });
  });

  it("when a cancelled order has no declined payment, then its cancel reason is the diagnosis", () => {
    const cancelled = facts({ order: { ...facts().order, status: "CANCELLED", cancelReason: "changed my mind" } });
    expect(diagnose(cancelled).text).toBe("cancelled: changed my mind");
  });

  it("when an event of the order is dead-lettered and not handled since, then it names the DLQ, the error and the replay command", () => {
    const letter = {
      eventId: "evt-created",
      type: "shop.order.v1.OrderCreated",
      dlqTopic: "shop.order.v1.events.dlq",
      originalTopic: "shop.order.v1.events",
      consumer: "shopmesh-payment",
      error: "currency USD is not enabled",
      attempts: 5,
      time: "2026-12-01T10:00:09.000Z",
    };
    const stuck = facts({ events: [orderCreated({ consumers: [position({ passed: true, behind: 0 })] })], deadLetters: [letter] });
    expect(diagnose(stuck)).toEqual({
      state: "dead-lettered",
      text: "OrderCreated is in shop.order.v1.events.dlq: currency USD is not enabled; fix, then npm run dlq -- replay evt-created",
    });
  });

  it("when a dead-lettered event was handled by its consumer after a replay, then the dead letter no longer decides", () => {
    const letter = {
      eventId: "evt-created",
      type: "shop.order.v1.OrderCreated",
      dlqTopic: "shop.order.v1.events.dlq",
      originalTopic: "shop.order.v1.events",
      consumer: "shopmesh-payment",
      error: "currency USD is not enabled",
      attempts: 5,
      time: "2026-12-01T10:00:09.000Z",
    };
    const handled = position({ passed: true, behind: 0, handledBy: ["payment.order-created"], handledAt: "2026-12-01T11:00:00.000Z" });
    const replayed = facts({
      order: { ...facts().order, status: "CONFIRMED" },
      events: [orderCreated({ consumers: [handled] })],
      deadLetters: [letter],
    });
    expect(diagnose(replayed).text).toBe("confirmed");
  });

  it("when the consumer of the next event is behind, then it says how many events behind, with thousands separated", () => {
    const behind = facts({ events: [orderCreated({ consumers: [position({ committed: "10", behind: 1203 })] })] });
    expect(diagnose(behind)).toEqual({ state: "waiting", text: "waiting for payment: its consumer is 1,203 events behind" });
  });

  it("when the consumer group has no members, then it says the consumer is stopped", () => {
    const stopped = facts({ events: [orderCreated({ consumers: [position({ state: "Empty", members: 0, behind: 4 })] })] });
    expect(diagnose(stopped)).toEqual({
      state: "waiting",
      text: "waiting for payment: its consumer shopmesh-payment is stopped (group Empty, no members), 4 events behind; start payment",
    });
  });

  it("when the consumer's spans show failed attempts on the event, then it says it is retrying, with the last error", () => {
    const span = (n: number) => ({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      id: `s${n}`,
      service: "payment",
      name: "process shop.order.v1.events",
      kind: "consumer",
      time: `2026-12-01T10:00:0${n}.000Z`,
      durationMs: 3,
      error: `processor timeout ${n}`,
      eventId: "evt-created",
      group: "shopmesh-payment",
    });
    const retrying = facts({ events: [orderCreated()], spans: [span(1), span(2)] });
    expect(diagnose(retrying).text).toBe(
      "waiting for payment: its consumer is retrying OrderCreated (2 failed attempts so far): processor timeout 2",
    );
  });

  it("when the event is still in the outbox after failed sends, then it names the outbox and the last error", () => {
    const unsent = facts({
      events: [orderCreated({ state: "FAILED", timesSent: 3, lastError: "broker down", partition: null, offset: null, consumers: [] })],
    });
    expect(diagnose(unsent)).toEqual({
      state: "waiting",
      text: "waiting for order's outbox: OrderCreated is FAILED after 3 sends; last error: broker down",
    });
  });

  it("when an earlier event was consumed, then the first event not reached decides", () => {
    const authorized = orderCreated({
      service: "payment",
      eventId: "evt-authorized",
      type: "shop.payment.v1.PaymentAuthorized",
      name: "PaymentAuthorized",
      topic: "shop.payment.v1.events",
      createTime: "2026-12-01T10:00:01.000Z",
      consumers: [position({ groupId: "shopmesh-order", service: "order", behind: 7 })],
    });
    const created = orderCreated({ consumers: [position({ passed: true, behind: 0, handledBy: ["payment.order-created"] })] });
    expect(diagnose(facts({ events: [authorized, created] })).text).toBe("waiting for order: its consumer is 7 events behind");
  });

  it("when several groups are behind, then a stopped group is named before one further behind, and otherwise the furthest behind", () => {
    const reserved = orderCreated({
      service: "inventory",
      eventId: "evt-reserved",
      type: "shop.inventory.v1.StockReserved",
      name: "StockReserved",
      topic: "shop.inventory.v1.events",
      createTime: "2026-12-01T09:59:59.950Z", // written before OrderCreated
      consumers: [position({ groupId: "shopmesh-order", service: "order", behind: 1 })],
    });
    const farBehind = facts({ events: [reserved, orderCreated({ consumers: [position({ behind: 40 })] })] });
    expect(diagnose(farBehind).text).toBe("waiting for payment: its consumer is 40 events behind");

    const stopped = facts({
      events: [
        { ...reserved, consumers: [position({ groupId: "shopmesh-order", service: "order", behind: 500 })] },
        orderCreated({ consumers: [position({ state: "Empty", members: 0, behind: 2 })] }),
      ],
    });
    expect(diagnose(stopped).text).toMatch(/^waiting for payment: its consumer shopmesh-payment is stopped/);
  });

  it("when a stopped consumer and a row still on its way in another outbox meet, then the stopped consumer is named", () => {
    const inFlight = orderCreated({
      service: "inventory",
      eventId: "evt-reserved",
      type: "shop.inventory.v1.StockReserved",
      name: "StockReserved",
      topic: "shop.inventory.v1.events",
      state: "IN_PROGRESS",
      partition: null,
      offset: null,
      consumers: [],
    });
    const stopped = orderCreated({ consumers: [position({ state: "Empty", members: 0, behind: 1 })] });
    expect(diagnose(facts({ events: [inFlight, stopped] })).text).toMatch(/^waiting for payment: its consumer shopmesh-payment is stopped/);
    // …but a relay whose sends fail comes first: nothing downstream moves until it sends.
    const failing = { ...inFlight, state: "FAILED", lastError: "broker down" };
    expect(diagnose(facts({ events: [failing, stopped] })).text).toBe(
      "waiting for inventory's outbox: StockReserved is FAILED after 1 send; last error: broker down",
    );
    // …and a row merely on its way is named when no consumer is stuck.
    expect(diagnose(facts({ events: [inFlight] })).text).toBe("waiting for inventory's outbox: StockReserved is IN_PROGRESS after 1 send");
  });

  it("when nothing explains the wait and a source did not answer, then it says which", () => {
    const blind = facts({ events: [], sources: [{ source: "order outbox", ok: false, error: "UNAVAILABLE" }] });
    expect(diagnose(blind)).toEqual({ state: "unknown", text: "AWAITING_PAYMENT: no stuck step found, but order outbox did not answer" });
  });

  describe("the order's email", () => {
    const confirmedOrder = facts().order;
    const confirmed = {
      ...confirmedOrder,
      status: "CONFIRMED",
      history: [...confirmedOrder.history, { status: "CONFIRMED", time: "2026-12-01T10:00:01.000Z", reason: "payment authorized" }],
    };
    const parked = {
      queue: "notification.email",
      messageId: "cmd-confirmed-1",
      type: "shop.notification.v1.SendOrderEmail",
      reason: "connect ECONNREFUSED 127.0.0.1:1025",
      attempts: 5,
      time: "2026-12-01T10:00:20.000Z",
    };
    const emailCommand = orderCreated({
      eventId: "cmd-confirmed-1",
      type: "shop.notification.v1.SendOrderEmail",
      name: "SendOrderEmail",
      topic: "notification.email",
      partition: null,
      offset: null,
      consumers: [],
    });

    it("when a confirmed order's email is parked, then it says so with the reason and the unpark command", () => {
      const diagnosis = diagnose(facts({ order: confirmed, events: [emailCommand], parkedCommands: [parked] }));

      expect(diagnosis).toEqual({
        state: "confirmed",
        text: "confirmed; the confirmation email is parked: connect ECONNREFUSED 127.0.0.1:1025; fix, then npm run dlq -- unpark notification.email cmd-confirmed-1",
      });
    });

    it("when a parked email was sent after a replay, then the order is just confirmed", () => {
      const sent = {
        notificationId: "cmd-confirmed-1",
        kind: "CONFIRMED",
        subject: "Your order is confirmed",
        recipient: "c-42@example.com",
        attempts: 1,
        sendTime: "2026-12-01T10:05:00.000Z",
      };

      expect(diagnose(facts({ order: confirmed, events: [emailCommand], parkedCommands: [parked], notifications: [sent] }))).toEqual({
        state: "confirmed",
        text: "confirmed",
      });
    });

    it("when a cancelled order never confirmed has its email parked, then the cancellation email is named", () => {
      const cancelled = { ...confirmedOrder, status: "CANCELLED", cancelReason: "out of stock" };

      expect(diagnose(facts({ order: cancelled, parkedCommands: [parked] })).text).toBe(
        "cancelled: out of stock; the cancellation email is parked: connect ECONNREFUSED 127.0.0.1:1025; fix, then npm run dlq -- unpark notification.email cmd-confirmed-1",
      );
    });

    it("when the email command is still in the order's outbox, then it names the outbox and the last error", () => {
      const stuck = { ...emailCommand, state: "FAILED", publishTime: null, lastError: "RabbitMQ unreachable" };

      expect(diagnose(facts({ order: confirmed, events: [stuck] })).text).toBe(
        "confirmed; the email command SendOrderEmail waits in order's outbox (FAILED after 1 send; last error: RabbitMQ unreachable)",
      );
    });

    it("when the email command was sent and nothing is parked, then the order is just confirmed", () => {
      expect(diagnose(facts({ order: confirmed, events: [emailCommand] }))).toEqual({ state: "confirmed", text: "confirmed" });
    });
  });
});
