import { EventEmitter, on } from "node:events";
import { OrderEmailKind as ProtoKind, SendOrderEmailSchema } from "#gen/shop/notification/v1/notification_commands_pb.js";
import { CommandQueues, decodeCommand, type IncomingCommand, PermanentCommandError } from "#shared/commands/index.js";
import { notFound } from "#shared/errors.js";
import { isUuid } from "#shared/ids.js";
import type { Logger } from "#shared/logger.js";
import { fromProtoMoney, type Money } from "#shared/money.js";
import type { Mailer } from "./mailer.js";
import type { NotificationStore, OrderEmailKind, StoredNotification } from "./store/notification-store.js";

/** EMAIL_QUEUE is the command queue of order emails: order's outbox sends SendOrderEmail there, this service consumes it. */
export const EMAIL_QUEUE = CommandQueues.orderEmails;

const KINDS: Partial<Record<ProtoKind, OrderEmailKind>> = { [ProtoKind.CONFIRMED]: "CONFIRMED", [ProtoKind.CANCELLED]: "CANCELLED" };

export interface NotificationsDeps {
  readonly store: NotificationStore;
  readonly mailer: Mailer;
  /** customerMailDomain makes a customer's address: `<customer id>@<domain>` (the shop keeps no addresses yet). */
  readonly customerMailDomain: string;
  readonly logger?: Logger | undefined;
}

/**
 * Notifications are the service's use cases: send the email a command asks for and record it, and read what was
 * sent. One command makes at most one notification row (its id is the command id); the SMTP send before the row is
 * outside any transaction, so a crash between the two sends the email again on redelivery (at least once, the
 * bus's ledger and the row's UNIQUE id drop every other repeat).
 */
export class Notifications {
  /** sent fans each recorded notification out to the WatchNotifications streams of its order. */
  private readonly sent = new EventEmitter();

  constructor(private readonly deps: NotificationsDeps) {
    // One listener per open WatchNotifications stream.
    this.sent.setMaxListeners(0);
  }

  /**
   * handleSendOrderEmail is the command handler of {@link EMAIL_QUEUE}. A command that can never succeed (another
   * type, undecodable, a missing field) throws PermanentCommandError, which parks it with the reason; an SMTP failure
   * throws as it is, so the bus retries it with backoff and parks it after the last attempt.
   */
  async handleSendOrderEmail(command: IncomingCommand): Promise<void> {
    const message = decodeCommand(SendOrderEmailSchema, command);
    if (!isUuid(message.orderId)) throw new PermanentCommandError(`order_id: must be a UUID, got "${message.orderId}"`);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(message.customerId)) {
      throw new PermanentCommandError(`customer_id: must be 1 to 64 letters, digits, ".", "_" or "-", got "${message.customerId}"`);
    }
    const kind = KINDS[message.kind];
    if (kind === undefined) throw new PermanentCommandError(`kind: must be CONFIRMED or CANCELLED, got ${message.kind}`);
    const total = fromProtoMoney(message.total);
    if (total === undefined) throw new PermanentCommandError("total: required");
    const { store, mailer, logger } = this.deps;
    if (store.get(command.id) !== undefined) {
      logger?.info({ commandId: command.id, orderId: message.orderId }, "notification already sent for this command; not sending again");
      return;
    }
    // A CONFIRMED command that waited out a retry can arrive after the order's CANCELLED email (docs/commands.md,
    // "Order per order"): a cancelled order is never confirmed again, so that email would be wrong.
    if (kind === "CONFIRMED" && store.ofOrder(message.orderId, 0, 1_000).some((n) => n.kind === "CANCELLED")) {
      logger?.warn({ commandId: command.id, orderId: message.orderId }, "order already cancelled; not sending its confirmation");
      return;
    }
    const recipient = `${message.customerId}@${this.deps.customerMailDomain}`;
    const email = composeOrderEmail(kind, message.orderId, total, message.reason);
    const smtpMessageId = await mailer.send({
      to: recipient,
      subject: email.subject,
      text: email.text,
      messageId: `<${command.id}@notification.shopmesh.local>`,
    });
    const stored = store.insert({
      notificationId: command.id,
      orderId: message.orderId,
      customerId: message.customerId,
      kind,
      recipient,
      subject: email.subject,
      total,
      reason: message.reason,
      smtpMessageId,
      attempts: command.attempt,
      sendTime: new Date(),
    });
    if (stored === undefined) return;
    logger?.info({ commandId: command.id, orderId: stored.orderId, kind, smtpMessageId, attempt: command.attempt }, "order email sent");
    this.sent.emit(stored.orderId, stored);
  }

  get(notificationId: string): StoredNotification {
    const notification = this.deps.store.get(notificationId);
    if (notification === undefined) throw notFound(`notification "${notificationId}"`);
    return notification;
  }

  /** list returns one page of an order's notifications after the cursor, and whether more follow. */
  list(orderId: string, afterSeq: number, limit: number): { notifications: StoredNotification[]; more: boolean } {
    const rows = this.deps.store.ofOrder(orderId, afterSeq, limit + 1);
    return { notifications: rows.slice(0, limit), more: rows.length > limit };
  }

  /**
   * watch yields the order's notifications that exist, oldest first, then each one recorded later, until `signal`
   * aborts. It listens before it reads, so a notification recorded in between is not lost, and skips what the read
   * already returned.
   */
  async *watch(orderId: string, signal: AbortSignal): AsyncGenerator<StoredNotification> {
    const arriving = on(this.sent, orderId, { signal });
    let lastSeq = 0;
    try {
      for (let page = this.deps.store.ofOrder(orderId, 0, 200); page.length > 0; page = this.deps.store.ofOrder(orderId, lastSeq, 200)) {
        for (const notification of page) {
          lastSeq = notification.seq;
          yield notification;
        }
      }
      for await (const [notification] of arriving as AsyncIterable<[StoredNotification]>) {
        if (notification.seq <= lastSeq) continue;
        lastSeq = notification.seq;
        yield notification;
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      await arriving.return?.();
    }
  }
}

/** composeOrderEmail is the email's subject and body; plain text, as the shop has no templates yet. */
export function composeOrderEmail(kind: OrderEmailKind, orderId: string, total: Money, reason: string): { subject: string; text: string } {
  if (kind === "CONFIRMED") {
    return {
      subject: `Your order ${orderId} is confirmed`,
      text: `Thank you for your order.\n\nOrder: ${orderId}\nTotal: ${displayMoney(total)}\n\nWe will let you know when it ships.\n`,
    };
  }
  return {
    subject: `Your order ${orderId} was cancelled`,
    text: `Your order was cancelled.\n\nOrder: ${orderId}\nTotal: ${displayMoney(total)}\nReason: ${reason || "not given"}\n\nAny payment will be refunded.\n`,
  };
}

/**
 * displayMoney writes an amount for a customer, `12.50 EUR`: Intl knows each currency's minor digits (0 for JPY);
 * the arithmetic stays in bigint, so no amount goes through a double.
 */
export function displayMoney(value: Money): string {
  let digits = 2;
  try {
    digits = new Intl.NumberFormat("en", { style: "currency", currency: value.currencyCode }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    // Not a currency Intl knows: two digits, as most have.
  }
  const sign = value.amountMinor < 0n ? "-" : "";
  const abs = value.amountMinor < 0n ? -value.amountMinor : value.amountMinor;
  const scale = 10n ** BigInt(digits);
  const fraction = digits > 0 ? `.${(abs % scale).toString().padStart(digits, "0")}` : "";
  return `${sign}${abs / scale}${fraction} ${value.currencyCode}`;
}
