import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  PaymentSchema,
  PaymentStatus as ProtoPaymentStatus,
  type Payment as ProtoPayment,
  type PaymentService,
} from "#gen/shop/payment/v1/payment_service_pb.js";
import { invalidArgument } from "#shared/errors.js";
import type { ServiceImpl } from "@connectrpc/connect";
import { actorOf } from "#shared/security/actor.js";
import { toProtoMoney } from "#shared/money.js";
import { decodePageToken, encodePageToken, pageSizeOf } from "#shared/page-token.js";
import { optionalUuid, requireUuid } from "#shared/ids.js";
import type { Payment, PaymentStatus } from "./domain/payment.js";
import type { Payments } from "./payments.js";

/** MAX_REFUND_REASON_LENGTH bounds the audit note of a refund. */
const MAX_REFUND_REASON_LENGTH = 500;

/**
 * createPaymentService implements shop.payment.v1.PaymentService: request validation and proto ⇄ domain mapping
 * only; the use cases live in {@link Payments}.
 */
export function createPaymentService(payments: Payments): ServiceImpl<typeof PaymentService> {
  return {
    getPayment(request) {
      const paymentId = requireUuid("payment_id", request.paymentId);
      return { payment: toProtoPayment(payments.get(paymentId)) };
    },

    listPayments(request) {
      const limit = pageSizeOf(request.pageSize);
      const orderId = optionalUuid("order_id", request.orderId);
      // The token remembers the filter it was issued for, so it cannot silently skip rows under another filter.
      const filter = `order_id=${orderId}`;
      const cursor = decodePageToken(request.pageToken, filter);
      if (cursor !== undefined && !/^\d+$/.test(cursor.after)) {
        throw invalidArgument("page_token", "is not a token this server issued");
      }
      const page = payments.list({ orderId: orderId || undefined, afterSeq: cursor?.after, limit });
      return {
        payments: page.payments.map(toProtoPayment),
        nextPageToken: page.more && page.lastSeq !== undefined ? encodePageToken({ after: page.lastSeq, filter }) : "",
      };
    },

    refundPayment(request, ctx) {
      const paymentId = requireUuid("payment_id", request.paymentId);
      if (request.reason.length > MAX_REFUND_REASON_LENGTH) {
        throw invalidArgument("reason", `must be at most ${MAX_REFUND_REASON_LENGTH} characters`);
      }
      const reason = request.reason === "" ? "refund requested" : request.reason;
      const { payment } = payments.refund(paymentId, reason, actorOf(ctx));
      return { payment: toProtoPayment(payment) };
    },
  };
}

const STATUS: Record<PaymentStatus, ProtoPaymentStatus> = {
  AUTHORIZED: ProtoPaymentStatus.AUTHORIZED,
  DECLINED: ProtoPaymentStatus.DECLINED,
  REFUNDED: ProtoPaymentStatus.REFUNDED,
};

/** toProtoPayment maps the domain payment to its wire form. */
function toProtoPayment(payment: Payment): ProtoPayment {
  return create(PaymentSchema, {
    paymentId: payment.paymentId,
    orderId: payment.orderId,
    amount: toProtoMoney(payment.amount),
    status: STATUS[payment.status],
    declineReason: payment.declineReason,
    cardLast4: payment.cardLast4,
    createTime: timestampFromDate(payment.createTime),
    updateTime: timestampFromDate(payment.updateTime),
  });
}
