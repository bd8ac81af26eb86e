import type { Interceptor } from "@connectrpc/connect";
import { runInTrace } from "../trace-context.js";

/**
 * traceInterceptor runs each call a Connect router serves in the caller's trace (its `traceparent` header, or a new
 * trace), as the grpc-js adapter does for the calls it serves: the same handlers then write the same trace into the
 * events they cause, whichever transport serves them (`createRouterTransport(routes, { router: { interceptors } })`).
 */
export const traceInterceptor: Interceptor = (next) => (request) =>
  runInTrace(request.header.get("traceparent") ?? undefined, () => next(request));
