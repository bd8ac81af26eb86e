/**
 * The "why is my order stuck?" timeline's data: what the gateway gathers about one order (timeline.ts), what the
 * diagnosis rules read (diagnosis.ts), what `GET /api/v1/orders/{id}/timeline` answers and what `npm run why` and the
 * web page print. Plain JSON, so the CLI and the browser read it without the gateway's code.
 */

/** OrderFacts is the order as GetOrder returns it, with its status history. */
export interface OrderFacts {
  readonly orderId: string;
  readonly customerId: string;
  /** status is the enum name without its prefix: `AWAITING_PAYMENT`, `CONFIRMED`, `CANCELLED`. */
  readonly status: string;
  readonly cancelReason: string;
  readonly createTime: string;
  readonly history: readonly { readonly status: string; readonly time: string; readonly reason: string }[];
}

/** PaymentFacts is one payment of the order (payment's ListPayments). */
export interface PaymentFacts {
  readonly paymentId: string;
  /** status: `AUTHORIZED`, `DECLINED`, `REFUNDED`. */
  readonly status: string;
  readonly declineReason: string;
  readonly createTime: string;
  readonly updateTime: string;
}

/** ReservationFacts is the order's stock reservation (inventory's GetReservation; its id is the order id). */
export interface ReservationFacts {
  /** status: `HELD`, `COMMITTED`, `RELEASED`, `REJECTED`. */
  readonly status: string;
  readonly createTime: string;
  readonly updateTime: string;
}

/** ConsumerPosition is where one consumer group stands relative to one event. */
export interface ConsumerPosition {
  readonly groupId: string;
  /** service is the group's service (`shopmesh-payment` → `payment`). */
  readonly service: string;
  /** committed is the group's committed offset on the event's partition (the next it will read); null: none yet. */
  readonly committed: string | null;
  /** passed: the group's position is past the event, so it handled, skipped or dead-lettered it. */
  readonly passed: boolean;
  /** behind is how many events the group must still read to reach and include this one (0 once passed). */
  readonly behind: number | null;
  /** state is the group's state (`Stable`, `Empty`, …) and members its member count: `Empty`, 0 is a stopped consumer. */
  readonly state: string;
  readonly members: number;
  /** handledBy are the group's inbox consumers that handled the event (`payment.order-created`). */
  readonly handledBy: readonly string[];
  readonly handledAt: string | null;
}

/** EventFacts is one outbox row about the order, from the service that wrote it, and who consumed it. */
export interface EventFacts {
  readonly service: string;
  readonly eventId: string;
  /** type is the full type (`shop.order.v1.OrderCreated`); name its last segment (`OrderCreated`). */
  readonly type: string;
  readonly name: string;
  readonly topic: string;
  /** state: `NOT_PUBLISHED`, `IN_PROGRESS`, `PUBLISHED`, `FAILED`. */
  readonly state: string;
  readonly timesSent: number;
  readonly lastError: string;
  readonly createTime: string;
  readonly publishTime: string | null;
  readonly partition: number | null;
  readonly offset: string | null;
  readonly traceId: string | null;
  /** consumers are the groups that read the event's topic; empty when Kafka did not answer. */
  readonly consumers: readonly ConsumerPosition[];
}

/** DeadLetterFacts is one dead letter of the order (a `.dlq` record whose key is the order id). */
export interface DeadLetterFacts {
  readonly eventId: string;
  readonly type: string;
  readonly dlqTopic: string;
  readonly originalTopic: string;
  readonly consumer: string;
  readonly error: string;
  readonly attempts: number;
  readonly time: string;
}

/** NotificationFacts is one email the notification service sent about the order (its ListNotifications). */
export interface NotificationFacts {
  /** notificationId is the id of the command that asked for it. */
  readonly notificationId: string;
  /** kind: `CONFIRMED` or `CANCELLED`. */
  readonly kind: string;
  readonly subject: string;
  readonly recipient: string;
  readonly attempts: number;
  readonly sendTime: string;
}

/** ParkedCommandFacts is one command about the order in a parking lot (OpsService/GetCommandQueues of its consumer). */
export interface ParkedCommandFacts {
  readonly queue: string;
  /** messageId is the command id: `npm run dlq -- unpark <queue> <messageId>` replays it. */
  readonly messageId: string;
  readonly type: string;
  readonly reason: string;
  readonly attempts: number;
  readonly time: string;
}

/** SpanFacts is one span of the order's traces (Zipkin), reduced to what the timeline shows. */
export interface SpanFacts {
  readonly traceId: string;
  readonly id: string;
  readonly service: string;
  readonly name: string;
  readonly kind: string;
  readonly time: string;
  readonly durationMs: number;
  /** error is the span's error tag; empty when it succeeded. */
  readonly error: string;
  /** eventId and group are `messaging.message.id` and `messaging.consumer.group.name`, on messaging spans. */
  readonly eventId: string;
  readonly group: string;
}

/** SourceReport says whether one source answered; a source that did not is a line, never a failed timeline. */
export interface SourceReport {
  readonly source: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** TimelineEntry is one line of the timeline. */
export interface TimelineEntry {
  readonly time: string;
  /** source: `order`, `reservation`, `payment`, `outbox`, `consumer`, `dlq`, `notification`, `parked` or `span`. */
  readonly source: string;
  readonly service: string;
  readonly text: string;
  readonly level: "info" | "warn" | "error";
}

/** Diagnosis is the timeline's last line. */
export interface Diagnosis {
  /** state: `confirmed`, `cancelled`, `dead-lettered`, `waiting`, `unknown`. */
  readonly state: string;
  readonly text: string;
}

/** TimelineFacts is everything gathered about one order, before it is ordered into entries and diagnosed. */
export interface TimelineFacts {
  readonly order: OrderFacts;
  readonly reservation: ReservationFacts | null;
  readonly payments: readonly PaymentFacts[];
  readonly events: readonly EventFacts[];
  readonly deadLetters: readonly DeadLetterFacts[];
  /** notifications are the emails sent about the order; parkedCommands its commands in a parking lot. */
  readonly notifications: readonly NotificationFacts[];
  readonly parkedCommands: readonly ParkedCommandFacts[];
  readonly spans: readonly SpanFacts[];
  readonly sources: readonly SourceReport[];
}

/** Timeline is the whole answer of `GET /api/v1/orders/{id}/timeline`. */
export interface Timeline extends TimelineFacts {
  readonly orderId: string;
  readonly generatedAt: string;
  readonly entries: readonly TimelineEntry[];
  readonly diagnosis: Diagnosis;
}
