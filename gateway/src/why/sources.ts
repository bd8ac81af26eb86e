/**
 * The gateway's TimelineSources: the backends over the mesh (as the gateway, except the order read, which carries the
 * caller's principal so the order service's "who may see an order" rule decides), Kafka's admin API for the groups,
 * the ops panel's follower for the dead letters, and Zipkin's HTTP API for the spans. Every call has a short timeout.
 */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type CallOptions } from "@connectrpc/connect";
import type { Admin } from "kafkajs";
import { InventoryService, ReservationStatus } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { OrderEmailKind } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { NotificationService } from "#gen/shop/notification/v1/notification_service_pb.js";
import { OutboxState } from "#gen/shop/ops/v1/ops_service_pb.js";
import { OrderService, OrderStatus } from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentService, PaymentStatus } from "#gen/shop/payment/v1/payment_service_pb.js";
import { CONSUMED_TOPICS } from "#shared/events/topics.js";
import { parseTraceparent } from "#shared/trace-context.js";
import type { BackendName, Backends } from "../backends.js";
import type { NodeRequest } from "../http-handler.js";
import type { DeadLetterFacts, SpanFacts } from "./model.js";
import { type GroupView, type OutboxRow, type TimelineSources, withTimeout } from "./timeline.js";

/** MAX_TRACES bounds the Zipkin reads of one timeline (an order's events share a handful of traces). */
const MAX_TRACES = 8;

export interface GatewaySourcesDeps {
  readonly backends: Backends;
  readonly groupIds: readonly string[];
  readonly zipkinUrl: string;
  /** admin returns a connected Kafka admin (shared, cached by the caller); dropAdmin forgets one that failed. */
  admin(): Promise<Admin>;
  dropAdmin(): void;
  deadLetters(subject: string): Promise<DeadLetterFacts[]>;
  readonly timeoutMs: number;
}

/** createGatewaySources builds the sources for one request (the order read carries its principal). */
export function createGatewaySources(deps: GatewaySourcesDeps, req: NodeRequest): TimelineSources {
  const { backends, timeoutMs } = deps;
  // The gateway's own calls: its trace, its identity, no principal (the mesh policy alone judges them).
  const own: CallOptions = { timeoutMs, headers: { traceparent: backends.forwardHeaders(req).get("traceparent") ?? "" } };
  const services: BackendName[] = ["order", "payment", "inventory"];
  return {
    services,
    async order(orderId) {
      const { order } = await backends.clientFor(OrderService).getOrder({ orderId }, backends.callOptions(req, { timeoutMs }));
      if (!order) throw new Error("GetOrder answered no order");
      return {
        orderId: order.orderId,
        customerId: order.customerId,
        status: OrderStatus[order.status],
        cancelReason: order.cancelReason,
        createTime: iso(order.createTime) ?? "",
        history: order.history.map((change) => ({
          status: OrderStatus[change.status],
          time: iso(change.changeTime) ?? "",
          reason: change.reason,
        })),
      };
    },
    async notifications(orderId) {
      // As the gateway (the policy lets it read them): the order read above already applied the caller's rule.
      const { notifications } = await backends.clientFor(NotificationService).listNotifications({ orderId, pageSize: 50 }, own);
      return notifications.map((n) => ({
        notificationId: n.notificationId,
        kind: OrderEmailKind[n.kind] ?? String(n.kind),
        subject: n.subject,
        recipient: n.recipient,
        attempts: n.attempts,
        sendTime: iso(n.sendTime) ?? "",
      }));
    },
    async parkedCommands(orderId) {
      const { queues } = await backends.opsClient("notification").getCommandQueues({ subject: orderId, parkedLimit: 100 }, own);
      return queues.flatMap((queue) =>
        queue.latestParked.map((entry) => ({
          queue: queue.queue,
          messageId: entry.messageId,
          type: entry.type,
          reason: entry.reason,
          attempts: entry.attempts,
          time: iso(entry.parkTime) ?? "",
        })),
      );
    },
    async reservation(orderId) {
      try {
        const { reservation } = await backends.clientFor(InventoryService).getReservation({ reservationId: orderId }, own);
        if (!reservation) return null;
        return {
          status: ReservationStatus[reservation.status],
          createTime: iso(reservation.createTime) ?? "",
          updateTime: iso(reservation.updateTime) ?? "",
        };
      } catch (error) {
        if (ConnectError.from(error).code === Code.NotFound) return null; // no reservation (yet)
        throw error;
      }
    },
    async payments(orderId) {
      const { payments } = await backends.clientFor(PaymentService).listPayments({ orderId, pageSize: 50 }, own);
      return payments.map((payment) => ({
        paymentId: payment.paymentId,
        status: PaymentStatus[payment.status],
        declineReason: payment.declineReason,
        createTime: iso(payment.createTime) ?? "",
        updateTime: iso(payment.updateTime) ?? "",
      }));
    },
    async outbox(service, subject) {
      const answer = await backends.opsClient(service as BackendName).listAggregateEvents({ subject }, own);
      return answer.events.map(
        (event): OutboxRow => ({
          eventId: event.eventId,
          type: event.eventType,
          topic: event.topic,
          state: OutboxState[event.state],
          timesSent: event.timesSent,
          lastError: event.lastError,
          createTime: iso(event.createTime) ?? "",
          publishTime: iso(event.publishTime),
          partition: event.partition ?? null,
          offset: event.offset === undefined ? null : event.offset.toString(),
          traceId: parseTraceparent(event.traceparent)?.traceId ?? null,
        }),
      );
    },
    async handled(service, subject, eventIds) {
      const answer = await backends.opsClient(service as BackendName).listAggregateEvents({ subject, eventIds: [...eventIds] }, own);
      return answer.handled.map((entry) => ({
        service,
        eventId: entry.eventId,
        consumer: entry.consumer,
        time: iso(entry.handleTime) ?? "",
      }));
    },
    groups: (topics) =>
      withTimeout(groupsOf(deps, topics), timeoutMs, "Kafka admin").catch((error: unknown) => {
        deps.dropAdmin(); // its connection may be the broken part; the next request reconnects
        throw error;
      }),
    deadLetters: (subject) => withTimeout(deps.deadLetters(subject), timeoutMs, "the dead-letter reader"),
    spans: (traceIds) => zipkinSpans(deps.zipkinUrl, traceIds.slice(0, MAX_TRACES), timeoutMs),
  };
}

async function groupsOf(deps: GatewaySourcesDeps, topics: readonly string[]): Promise<GroupView[]> {
  const admin = await deps.admin();
  const described = await admin.describeGroups([...deps.groupIds]);
  return Promise.all(
    deps.groupIds.map(async (groupId): Promise<GroupView> => {
      const service = groupId.split("-").pop() || groupId;
      // A group is placed only against events of the topics it reads; its committed offsets on others mean nothing.
      const consumed = (CONSUMED_TOPICS[service as keyof typeof CONSUMED_TOPICS] ?? []).filter((topic) => topics.includes(topic));
      const description = described.groups.find((group) => group.groupId === groupId);
      const committed = new Map<string, string>();
      if (consumed.length > 0) {
        for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics: consumed })) {
          for (const { partition, offset } of partitions) committed.set(`${topic}/${partition}`, offset);
        }
      }
      return {
        groupId,
        service,
        state: description?.state ?? "Unknown",
        members: description?.members.length ?? 0,
        committed,
        topics: consumed,
      };
    }),
  );
}

interface ZipkinSpan {
  traceId: string;
  id: string;
  name?: string;
  kind?: string;
  timestamp?: number;
  duration?: number;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

/** zipkinSpans reads each trace from Zipkin's API (`GET /api/v2/trace/{traceId}`); a trace Zipkin does not know is empty. */
export async function zipkinSpans(zipkinUrl: string, traceIds: readonly string[], timeoutMs: number): Promise<SpanFacts[]> {
  const traces = await Promise.all(
    traceIds.map(async (traceId) => {
      let response: Response;
      try {
        response = await fetch(`${zipkinUrl}/api/v2/trace/${traceId}`, { signal: AbortSignal.timeout(timeoutMs) });
      } catch (error) {
        throw new Error(`Zipkin at ${zipkinUrl} not reachable: ${(error as Error).message}`);
      }
      if (response.status === 404) return [];
      if (!response.ok) throw new Error(`Zipkin answered ${response.status} for trace ${traceId}`);
      return (await response.json()) as ZipkinSpan[];
    }),
  );
  return traces.flat().map((span) => {
    const tags = span.tags ?? {};
    return {
      traceId: span.traceId,
      id: span.id,
      service: span.localEndpoint?.serviceName ?? "",
      name: span.name ?? "",
      kind: (span.kind ?? "").toLowerCase(),
      time: new Date((span.timestamp ?? 0) / 1000).toISOString(),
      durationMs: Math.round((span.duration ?? 0) / 100) / 10,
      error: tags["error"] ?? "",
      eventId: tags["messaging.message.id"] ?? "",
      group: tags["messaging.consumer.group.name"] ?? "",
    };
  });
}

function iso(timestamp: Timestamp | undefined): string | null {
  return timestamp === undefined ? null : timestampDate(timestamp).toISOString();
}
