import type { Server } from "@grpc/grpc-js";

/**
 * StreamResetLimit is the HTTP/2 "rapid reset" guard of one server (Node's `streamResetBurst` / `streamResetRate`):
 * how many RST_STREAM frames a connection may send at once, and how many per second after that, before the server
 * closes the whole connection with GOAWAY INTERNAL_ERROR.
 */
export interface StreamResetLimit {
  readonly burst: number;
  readonly ratePerSec: number;
}

/**
 * DEFAULT_STREAM_RESET_LIMIT fits the mesh's traffic. Node's own default (1,000, then 33/s) is far below it: every
 * watcher that stops watching, and every call that hits its deadline, resets its stream, and at 100 orders/s with one
 * WatchOrder each the burst was gone in 15 s; the GOAWAY then failed every call sharing the connection ("RST_STREAM 2
 * / Session closed with error code 2"). These values still stop a real rapid-reset flood (tens of thousands of resets
 * per second), which is what the guard is for.
 */
export const DEFAULT_STREAM_RESET_LIMIT: StreamResetLimit = { burst: 10_000, ratePerSec: 2_000 };

/**
 * applyStreamResetLimit sets the guard on a grpc-js server before it binds. grpc-js passes no such option through to
 * `http2.createServer`, so it is added to the options grpc-js builds once and hands to every port it binds; if a
 * grpc-js version moves them, this fails at start-up rather than letting the mesh drop connections under load.
 */
export function applyStreamResetLimit(server: Server, limit: StreamResetLimit = DEFAULT_STREAM_RESET_LIMIT): void {
  const http2Options: unknown = server["commonServerOptions" as keyof Server];
  if (typeof http2Options !== "object" || http2Options === null) {
    throw new Error("grpc-js no longer exposes its HTTP/2 server options: the stream reset limit cannot be set");
  }
  Object.assign(http2Options, { streamResetBurst: limit.burst, streamResetRate: limit.ratePerSec });
}
