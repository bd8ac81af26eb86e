import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  InventoryService,
  type ReleaseReservationRequestSchema,
  type ReleaseReservationResponse,
  type ReserveStockRequestSchema,
  type ReserveStockResponse,
} from "#gen/shop/inventory/v1/inventory_service_pb.js";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { createClient, type CallOptions } from "#shared/grpc/client.js";
import type { Spans } from "#shared/tracing/spans.js";

/**
 * IDEMPOTENT_METHODS are the inventory RPCs that may be retried: reads, and ReleaseReservation, which the contract
 * makes a no-op when repeated. ReserveStock is a stream (the reserver resends on its own) and ImportStock adds stock.
 */
const IDEMPOTENT_METHODS = ["GetProduct", "ListProducts", "GetReservation", "ReleaseReservation"] as const;

/**
 * INVENTORY_SERVICE_CONFIG is the grpc-js service config of the inventory channel: at most 3 attempts on UNAVAILABLE,
 * for the idempotent methods only (docs/architecture.md, "Calls between services").
 */
const INVENTORY_SERVICE_CONFIG = {
  methodConfig: [
    {
      name: IDEMPOTENT_METHODS.map((method) => ({ service: InventoryService.typeName, method })),
      retryPolicy: {
        maxAttempts: 3,
        initialBackoff: "0.1s",
        maxBackoff: "1s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
};

export type ReserveStockRequestInit = MessageInitShape<typeof ReserveStockRequestSchema>;
export type { ReserveStockResponse };

/** ReserveStream is one open ReserveStock call: write requests, cancel to end it. */
export interface ReserveStream {
  write(request: ReserveStockRequestInit): void;
  cancel(): void;
}

/** ReserveStreamListener hears a stream's responses and its end (`error` undefined when the server ended it cleanly). */
export interface ReserveStreamListener {
  onResponse(response: ReserveStockResponse): void;
  onClose(error: unknown): void;
}

/** InventoryClient is the part of InventoryService the order service calls. */
export interface InventoryClient {
  /** openReserveStream opens one ReserveStock bidi stream. */
  openReserveStream(listener: ReserveStreamListener): ReserveStream;
  /** releaseReservation gives a held reservation back; options carry the deadline. */
  releaseReservation(
    request: MessageInitShape<typeof ReleaseReservationRequestSchema>,
    options: CallOptions,
  ): Promise<ReleaseReservationResponse>;
  close(): void;
}

/**
 * createInventoryClient opens a channel to inventory with the retry service config and a short reconnect backoff
 * (grpc-js defaults to 1 s growing to 120 s, far too slow to notice a restarted inventory). `credentials` come from
 * the kit (mTLS as order, accepting only inventory's identity); plaintext when absent (tests). `spans` (tracing on)
 * give each call a CLIENT span.
 */
export function createInventoryClient(address: string, credentials?: ChannelCredentials, spans?: Spans): InventoryClient {
  const client = createClient(InventoryService, address, {
    ...(credentials ? { credentials } : {}),
    spans,
    serviceConfig: INVENTORY_SERVICE_CONFIG,
    channelOptions: { "grpc.initial_reconnect_backoff_ms": 200, "grpc.max_reconnect_backoff_ms": 2_000 },
  });
  return {
    openReserveStream(listener) {
      const requests = new RequestQueue<ReserveStockRequestInit>();
      const abort = new AbortController();
      // No deadline: the stream lives as long as the process; each reservation has its own deadline in the reserver.
      const responses = client.reserveStock(requests, { signal: abort.signal });
      void (async () => {
        let failure: unknown;
        try {
          for await (const response of responses) listener.onResponse(response);
        } catch (error) {
          failure = error;
        }
        requests.end();
        listener.onClose(failure);
      })();
      return {
        write: (request) => requests.push(request),
        cancel: () => {
          requests.end();
          abort.abort();
        },
      };
    },
    releaseReservation: (request, options) => client.releaseReservation(request, options),
    close: () => client.close(),
  };
}

/** RequestQueue is an async iterable fed by push(), the request side of a long-lived stream. */
class RequestQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;

  push(item: T): void {
    if (this.ended) throw new Error("stream is closed");
    if (this.waiting) {
      const wake = this.waiting;
      this.waiting = undefined;
      wake({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  end(): void {
    this.ended = true;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
    };
  }
}
