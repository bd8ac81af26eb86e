import { create } from "@bufbuild/protobuf";
import {
  ReserveStockResponseSchema,
  type InventoryService,
  type ReserveStockResponse,
} from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { toStatusName } from "#shared/errors.js";
import { serveMessage } from "#shared/tracing/rpc-spans.js";
import type { Spans } from "#shared/tracing/index.js";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Catalog, ImportSummary } from "./catalog.js";
import type { ImportLine } from "./domain/stock-import.js";
import { fromProtoMoney } from "#shared/money.js";
import { toProtoProduct, toProtoReservation, toProtoStockLevel } from "./proto-mapping.js";
import type { ReserveOutcome, Reservations } from "./reservations.js";
import type { StockFeed } from "./stock-feed.js";

/** IMPORT_BATCH_LINES: import lines applied per transaction (each line still in its own savepoint). */
const IMPORT_BATCH_LINES = 250;

/** InventoryServiceDeps are the use cases the RPC handlers map to and from protobuf. */
export interface InventoryServiceDeps {
  readonly catalog: Catalog;
  readonly reservations: Reservations;
  readonly feed: StockFeed;
  /** spans, when tracing is on, give each reservation on the ReserveStock stream a SERVER span in its order's trace. */
  readonly spans?: Spans | undefined;
}

const RESERVE_STOCK = "shop.inventory.v1.InventoryService/ReserveStock";

/** createInventoryService implements shop.inventory.v1.InventoryService: protobuf ⇄ domain mapping only. */
export function createInventoryService(deps: InventoryServiceDeps): ServiceImpl<typeof InventoryService> {
  const { catalog, reservations, feed, spans } = deps;

  return {
    listProducts(request) {
      const page = catalog.list(request.pageSize, request.pageToken);
      return { products: page.products.map(toProtoProduct), nextPageToken: page.nextPageToken };
    },

    getProduct(request) {
      return { product: toProtoProduct(catalog.get(request.productId)) };
    },

    async *watchStock(request, ctx) {
      // Snapshot and subscription in one synchronous step: no committed change can fall between them.
      const snapshot = catalog.levels(request.productIds);
      // ctx.signal also aborts when the service stops, which ends this stream (UNAVAILABLE "shutting down").
      const changes = feed.watch(new Set(request.productIds), ctx.signal);
      try {
        for (const level of snapshot) yield { stock: toProtoStockLevel(level) };
        for await (const level of changes) yield { stock: toProtoStockLevel(level) };
      } finally {
        changes.close();
      }
    },

    async importStock(requests) {
      const summary: ImportSummary = { accepted: 0, rejected: 0, created: 0, errors: [] };
      let batch: { index: number; line: ImportLine }[] = [];
      let index = 0;
      for await (const request of requests) {
        const line = { productId: request.productId, quantity: request.quantity, name: request.name, price: fromProtoMoney(request.price) };
        batch.push({ index: index++, line });
        if (batch.length >= IMPORT_BATCH_LINES) {
          catalog.importLines(batch, summary);
          batch = [];
        }
      }
      if (batch.length > 0) catalog.importLines(batch, summary);
      return {
        acceptedCount: summary.accepted,
        rejectedCount: summary.rejected,
        createdCount: summary.created,
        errors: summary.errors,
      };
    },

    async *reserveStock(requests) {
      // Requests on one stream are applied one after another, each answered as soon as it is done. A bad request
      // gets an error response carrying its reservation id; only a broken stream (or the service stopping) ends it.
      // Each request runs in the trace its order sent with it (its `traceparent` field), so the StockReserved it
      // writes and its log lines belong to that order, not to whichever order happened to open the stream.
      for await (const request of requests) {
        const outcome = serveMessage(
          spans,
          RESERVE_STOCK,
          request.traceparent,
          () =>
            reservations.reserve({
              reservationId: request.reservationId,
              orderId: request.orderId,
              lines: request.lines.map((line) => ({ productId: line.productId, quantity: line.quantity })),
            }),
          (result) => ({ code: result.error?.code ?? 0, details: result.error?.rawMessage }),
          { "shop.reservation_id": request.reservationId, "shop.order_id": request.orderId },
        );
        yield toReserveResponse(request.reservationId, outcome);
      }
    },

    getReservation(request) {
      return { reservation: toProtoReservation(reservations.get(request.reservationId)) };
    },

    releaseReservation(request) {
      return { reservation: toProtoReservation(reservations.release(request.reservationId, request.reason)) };
    },
  };
}

function toReserveResponse(reservationId: string, outcome: ReserveOutcome): ReserveStockResponse {
  return create(ReserveStockResponseSchema, {
    reservationId,
    reservation: outcome.reservation ? toProtoReservation(outcome.reservation) : undefined,
    errorCode: outcome.error ? toStatusName(outcome.error.code) : "",
    errorMessage: outcome.error?.rawMessage ?? "",
  });
}
