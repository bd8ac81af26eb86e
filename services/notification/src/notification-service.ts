import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { OrderEmailKind as ProtoKind } from "#gen/shop/notification/v1/notification_commands_pb.js";
import {
  NotificationChannel,
  NotificationSchema,
  type Notification as ProtoNotification,
  type NotificationService,
} from "#gen/shop/notification/v1/notification_service_pb.js";
import { invalidArgument } from "#shared/errors.js";
import { requireUuid } from "#shared/ids.js";
import { toProtoMoney } from "#shared/money.js";
import { decodePageToken, encodePageToken, pageSizeOf } from "#shared/page-token.js";
import type { Notifications } from "./notifications.js";
import type { OrderEmailKind, StoredNotification } from "./store/notification-store.js";

/** MAX_ID_LENGTH bounds a notification id (a command id: a UUID from order, but any sender's id is accepted). */
const MAX_ID_LENGTH = 128;

/** requireOrderId validates the order id every RPC filters by, naming the field. */
function requireOrderId(value: string): string {
  return requireUuid("order_id", value);
}

/**
 * createNotificationService implements shop.notification.v1.NotificationService: request validation and proto ⇄
 * domain mapping only; the use cases live in {@link Notifications}.
 */
export function createNotificationService(notifications: Notifications): ServiceImpl<typeof NotificationService> {
  return {
    getNotification(request) {
      if (request.notificationId === "") throw invalidArgument("notification_id", "required");
      if (request.notificationId.length > MAX_ID_LENGTH)
        throw invalidArgument("notification_id", `must be at most ${MAX_ID_LENGTH} characters`);
      return { notification: toProtoNotification(notifications.get(request.notificationId)) };
    },

    listNotifications(request) {
      const orderId = requireOrderId(request.orderId);
      const limit = pageSizeOf(request.pageSize);
      // The token remembers the order it was issued for, so it cannot silently skip rows of another order.
      const filter = `order_id=${orderId}`;
      const cursor = decodePageToken(request.pageToken, filter);
      if (cursor !== undefined && !/^\d+$/.test(cursor.after)) throw invalidArgument("page_token", "is not a token this server issued");
      const page = notifications.list(orderId, Number(cursor?.after ?? 0), limit);
      const last = page.notifications.at(-1);
      return {
        notifications: page.notifications.map(toProtoNotification),
        nextPageToken: page.more && last !== undefined ? encodePageToken({ after: String(last.seq), filter }) : "",
      };
    },

    async *watchNotifications(request, ctx) {
      const orderId = requireOrderId(request.orderId);
      // ctx.signal aborts when the caller cancels and when the service stops, which ends this stream.
      for await (const notification of notifications.watch(orderId, ctx.signal)) {
        yield { notification: toProtoNotification(notification) };
      }
    },
  };
}

const KIND: Record<OrderEmailKind, ProtoKind> = { CONFIRMED: ProtoKind.CONFIRMED, CANCELLED: ProtoKind.CANCELLED };

function toProtoNotification(n: StoredNotification): ProtoNotification {
  return create(NotificationSchema, {
    notificationId: n.notificationId,
    orderId: n.orderId,
    customerId: n.customerId,
    channel: NotificationChannel.EMAIL,
    kind: KIND[n.kind],
    recipient: n.recipient,
    subject: n.subject,
    total: toProtoMoney(n.total),
    reason: n.reason,
    smtpMessageId: n.smtpMessageId,
    attempts: n.attempts,
    sendTime: timestampFromDate(n.sendTime),
  });
}
