import { Code, ConnectError } from "@connectrpc/connect";
import { ReservationStatus, type ReserveStockResponse } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { failedPrecondition, fromStatusName } from "#shared/errors.js";
import type { Logger } from "#shared/logger.js";
import { fromProtoMoney, type Money } from "#shared/money.js";
import type { StockAnswer, StockReservations } from "../order-use-cases.js";
import { type InventoryReserver, wasNeverSent } from "./inventory-reserver.js";

/**
 * createStockReservations puts the order flow's {@link StockReservations} on the inventory reserver: the reservation
 * id is the order id, and inventory's answer becomes unit prices, an unknown product, or the error the caller gets.
 */
export function createStockReservations(reserver: Pick<InventoryReserver, "reserve" | "release">, logger: Logger): StockReservations {
  /** refusals are the errors made from inventory's own answers: a refused reservation holds nothing. */
  const refusals = new WeakSet<object>();

  return {
    async reserve(orderId, lines, call): Promise<StockAnswer> {
      const response = await reserver.reserve({ reservationId: orderId, orderId, lines: [...lines] }, call);
      if (response.errorCode === "" && response.reservation?.status === ReservationStatus.HELD) {
        return { kind: "held", unitPrices: unitPricesOf(response) };
      }
      const message = response.errorMessage || "stock reservation rejected";
      logger.info({ orderId, errorCode: response.errorCode, reason: message }, "stock reservation rejected");
      if (response.errorCode === "NOT_FOUND") {
        // Inventory quotes the product it does not know, e.g. `product "sku-x" not found`.
        const productId = lines.find((line) => message.includes(`"${line.productId}"`))?.productId;
        return { kind: "unknown-product", productId, message };
      }
      const refusal = rejection(response.errorCode, message);
      refusals.add(refusal);
      throw refusal;
    },
    async release(orderId, reason) {
      await reserver.release(orderId, reason);
      logger.info({ orderId, reason }, "reservation released (compensation)");
    },
    mayHold: (error) => !(typeof error === "object" && error !== null && refusals.has(error)) && !wasNeverSent(error),
  };
}

function unitPricesOf(response: ReserveStockResponse): Map<string, Money> {
  const prices = new Map<string, Money>();
  for (const line of response.reservation?.lines ?? []) {
    const price = fromProtoMoney(line.unitPrice);
    if (price) prices.set(line.productId, price);
  }
  return prices;
}

/** rejection passes inventory's refusal on with its code; missing stock (or no code at all) is FAILED_PRECONDITION. */
function rejection(errorCode: string, message: string): ConnectError {
  if (errorCode === "" || errorCode === "FAILED_PRECONDITION") return failedPrecondition(message);
  return new ConnectError(message, fromStatusName(errorCode) ?? Code.Unknown);
}
