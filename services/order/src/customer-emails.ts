import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { OrderEmailKind, SendOrderEmailSchema } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { type Command, CommandQueues, toCommand } from "#shared/commands/index.js";
import { toProtoMoney } from "#shared/money.js";
import type { Order } from "./domain/order.js";

/** COMMAND_SOURCE is the CloudEvents `source` of the commands order sends, as EVENT_SOURCE is of its events. */
const COMMAND_SOURCE = "shopmesh/order";

/** OrderEmail is a command for the outbox: where it goes and what it asks. */
export interface OrderEmail {
  readonly queue: string;
  readonly command: Command;
}

/**
 * orderEmail is order's decision "tell the customer": a SendOrderEmail command for the notification service, written
 * to the outbox in the transaction that confirmed or cancelled the order. Its id is new here and kept by the outbox
 * row, so every resend of the row is the same command (the consumer's idempotency key); its subject is the order
 * (the ordering key); its `traceparent` is the work that decided it (toCommand), so the email joins the order's trace.
 */
export function orderEmail(order: Order, kind: "CONFIRMED" | "CANCELLED"): OrderEmail {
  const message = create(SendOrderEmailSchema, {
    orderId: order.orderId,
    customerId: order.customerId,
    kind: kind === "CONFIRMED" ? OrderEmailKind.CONFIRMED : OrderEmailKind.CANCELLED,
    total: toProtoMoney(order.total),
    reason: kind === "CANCELLED" ? order.cancelReason : "",
  });
  const command = toCommand(SendOrderEmailSchema, message, {
    id: randomUUID(),
    source: COMMAND_SOURCE,
    subject: order.orderId,
    time: order.updateTime,
  });
  return { queue: CommandQueues.orderEmails, command };
}
