import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ProductSchema,
  ReservationLineSchema,
  ReservationSchema,
  ReservationStatus as ProtoStatus,
  StockLevelSchema,
  type Product,
  type Reservation as ProtoReservation,
  type ReservationLine as ProtoLine,
  type StockLevel,
} from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { toProtoMoney } from "#shared/money.js";
import type { Reservation, ReservationLine, ReservationStatus } from "./domain/reservation.js";
import type { ProductRecord } from "./store/product-store.js";
import type { StockSnapshot } from "./stock-feed.js";

/** toProtoStockLevel maps a product's stock at one moment. */
export function toProtoStockLevel(level: StockSnapshot): StockLevel {
  return create(StockLevelSchema, {
    productId: level.productId,
    availableQuantity: level.available,
    reservedQuantity: level.reserved,
    updateTime: timestampFromDate(level.updatedAt),
  });
}

/** toProtoProduct maps a product with its stock. */
export function toProtoProduct(product: ProductRecord): Product {
  return create(ProductSchema, {
    productId: product.productId,
    name: product.name,
    description: product.description,
    price: toProtoMoney(product.price),
    stock: toProtoStockLevel(product),
  });
}

const STATUS: Record<ReservationStatus, ProtoStatus> = {
  HELD: ProtoStatus.HELD,
  COMMITTED: ProtoStatus.COMMITTED,
  RELEASED: ProtoStatus.RELEASED,
  REJECTED: ProtoStatus.REJECTED,
};

/** toProtoLines maps reservation lines with their unit prices. */
export function toProtoLines(lines: readonly ReservationLine[]): ProtoLine[] {
  return lines.map((line) =>
    create(ReservationLineSchema, { productId: line.productId, quantity: line.quantity, unitPrice: toProtoMoney(line.unitPrice) }),
  );
}

/** toProtoReservation maps a reservation, REJECTED ones included. */
export function toProtoReservation(reservation: Reservation): ProtoReservation {
  return create(ReservationSchema, {
    reservationId: reservation.reservationId,
    orderId: reservation.orderId,
    lines: toProtoLines(reservation.lines),
    status: STATUS[reservation.status],
    createTime: timestampFromDate(reservation.createdAt),
    updateTime: timestampFromDate(reservation.updatedAt),
  });
}
