/**
 * P5: protobuf vs JSON, on the messages one confirmed order produces (its events and the main responses): bytes per
 * message (protobuf-es toBinary vs proto3 JSON, toJsonString), and encode/decode operations per second with
 * protobuf-es (binary, and its JSON codec) next to the runtime's JSON.stringify/JSON.parse of the same JSON object.
 */
import {
  create,
  fromBinary,
  fromJsonString,
  toBinary,
  toJson,
  toJsonString,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { StockCommittedSchema } from "#gen/shop/inventory/v1/inventory_events_pb.js";
import { OrderConfirmedSchema, OrderCreatedSchema } from "#gen/shop/order/v1/order_events_pb.js";
import {
  CreateOrderResponseSchema,
  GetOrderResponseSchema,
  OrderStatus,
  type OrderLineSchema,
} from "#gen/shop/order/v1/order_service_pb.js";
import { PaymentAuthorizedSchema } from "#gen/shop/payment/v1/payment_events_pb.js";
import { round, summarize } from "../lib/stats.js";

/** P5Settings: how long each timed loop runs and how often it is repeated. */
export interface P5Settings {
  readonly loopMs: number;
  readonly reps: number;
}

/** MessageSize is one message's encoded sizes. */
export interface MessageSize {
  readonly message: string;
  readonly kind: "event" | "response";
  readonly protobufBytes: number;
  readonly jsonBytes: number;
  readonly ratio: number;
}

/** CodecSpeed is ops/s of one message's codecs (medians of `reps` loops). */
export interface CodecSpeed {
  readonly message: string;
  readonly encodeProtobuf: number;
  readonly encodeJsonProtobufEs: number;
  readonly encodeJsonNative: number;
  readonly decodeProtobuf: number;
  readonly decodeJsonProtobufEs: number;
  readonly decodeJsonNative: number;
}

/** P5Result is the whole P5 measure. */
export interface P5Result {
  readonly sizes: readonly MessageSize[];
  readonly totalProtobufBytes: number;
  readonly totalJsonBytes: number;
  readonly speeds: readonly CodecSpeed[];
}

interface Sample<D extends DescMessage = DescMessage> {
  name: string;
  kind: "event" | "response";
  schema: D;
  message: MessageShape<D>;
}

/** flowMessages builds what one two-line order confirmed by payment puts on the wire, with realistic values. */
function flowMessages(): Sample[] {
  const orderId = crypto.randomUUID();
  const paymentId = crypto.randomUUID();
  const at = (ms: number) => timestampFromDate(new Date(Date.UTC(2025, 5, 1, 12, 0, 0) + ms));
  const eur = (amountMinor: bigint) => ({ currencyCode: "EUR", amountMinor });
  const lines: MessageInitShape<typeof OrderLineSchema>[] = [
    { productId: "sku-espresso-beans-1kg", quantity: 2, unitPrice: eur(1_890n), lineTotal: eur(3_780n) },
    { productId: "sku-milk-frother", quantity: 1, unitPrice: eur(4_999n), lineTotal: eur(4_999n) },
  ];
  const base = { orderId, customerId: "cust-7f3a9c21", lines, total: eur(8_779n), createTime: at(0) };
  const created = {
    ...base,
    status: OrderStatus.AWAITING_PAYMENT,
    updateTime: at(0),
    history: [{ status: OrderStatus.AWAITING_PAYMENT, changeTime: at(0), reason: "order created" }],
  };
  const confirmed = {
    ...created,
    status: OrderStatus.CONFIRMED,
    updateTime: at(42),
    paymentId,
    history: [...created.history, { status: OrderStatus.CONFIRMED, changeTime: at(42), reason: "payment authorized" }],
  };
  const sample = <D extends DescMessage>(name: string, kind: Sample["kind"], schema: D, init: object): Sample =>
    ({ name, kind, schema, message: create(schema, init as never) }) as unknown as Sample;
  return [
    sample("OrderCreated (event)", "event", OrderCreatedSchema, { ...base, cardToken: "tok_visa" }),
    sample("PaymentAuthorized (event)", "event", PaymentAuthorizedSchema, {
      paymentId,
      orderId,
      amount: eur(8_779n),
      authorizeTime: at(30),
    }),
    sample("OrderConfirmed (event)", "event", OrderConfirmedSchema, { orderId, paymentId, confirmTime: at(42) }),
    sample("StockCommitted (event)", "event", StockCommittedSchema, { reservationId: orderId, orderId, commitTime: at(40) }),
    sample("CreateOrderResponse", "response", CreateOrderResponseSchema, { order: created }),
    sample("GetOrderResponse (confirmed)", "response", GetOrderResponseSchema, { order: confirmed }),
  ];
}

/** opsPerSecond runs `fn` in a loop for about `ms` and returns calls per second. */
function opsPerSecond(fn: () => unknown, ms: number): number {
  let n = 0;
  let sink: unknown;
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    // Batches of 100 keep the clock out of the loop's cost.
    for (let i = 0; i < 100; i++) sink = fn();
    n += 100;
  }
  if (sink === Symbol.for("never")) console.log(sink); // keep `sink` observable so the calls are not optimised away
  return n / ((performance.now() - start) / 1000);
}

/** runP5 measures sizes and codec speeds. */
export function runP5(settings: P5Settings): P5Result {
  const samples = flowMessages();
  const sizes = samples.map((s): MessageSize => {
    const protobufBytes = toBinary(s.schema, s.message).length;
    const jsonBytes = Buffer.byteLength(toJsonString(s.schema, s.message));
    return { message: s.name, kind: s.kind, protobufBytes, jsonBytes, ratio: round(protobufBytes / jsonBytes, 3) };
  });
  const speedOf = (s: Sample): CodecSpeed => {
    const binary = toBinary(s.schema, s.message);
    const jsonText = toJsonString(s.schema, s.message);
    const jsonValue = toJson(s.schema, s.message);
    const measure = (fn: () => unknown) => {
      opsPerSecond(fn, Math.min(100, settings.loopMs)); // warm-up: let the JIT settle before timing
      return round(summarize(Array.from({ length: settings.reps }, () => opsPerSecond(fn, settings.loopMs))).median, 0);
    };
    return {
      message: s.name,
      encodeProtobuf: measure(() => toBinary(s.schema, s.message)),
      encodeJsonProtobufEs: measure(() => toJsonString(s.schema, s.message)),
      encodeJsonNative: measure(() => JSON.stringify(jsonValue)),
      decodeProtobuf: measure(() => fromBinary(s.schema, binary)),
      decodeJsonProtobufEs: measure(() => fromJsonString(s.schema, jsonText)),
      decodeJsonNative: measure(() => JSON.parse(jsonText)),
    };
  };
  const speeds = samples.filter((s) => s.name.startsWith("OrderCreated") || s.name.startsWith("GetOrderResponse")).map(speedOf);
  return {
    sizes,
    totalProtobufBytes: sizes.reduce((sum, s) => sum + s.protobufBytes, 0),
    totalJsonBytes: sizes.reduce((sum, s) => sum + s.jsonBytes, 0),
    speeds,
  };
}
