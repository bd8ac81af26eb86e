import type { ProcessMetrics } from "#shared/metrics/index.js";
import { pathOf, type HttpHandler } from "./http-handler.js";
import { requestContext } from "./request-context.js";

/** UNMATCHED_ROUTE labels an `/api` request no route matched (404, 405, refused before routing), so raw paths never become series. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * createHttpMetricsHandler records every REST request (`/api…`) when its response closes: HTTP method, the route
 * template the REST handler matched (request-context `route`) or {@link UNMATCHED_ROUTE}, status and duration. It
 * only listens and passes the request on. Connect, gRPC and gRPC-Web calls are forwarded as gRPC and counted by the
 * service that answers them; the web UI's static files are not worth a series.
 */
export function createHttpMetricsHandler(metrics: Pick<ProcessMetrics, "observeHttp">): HttpHandler {
  return async (req, res) => {
    const path = pathOf(req);
    if (path !== "/api" && !path.startsWith("/api/")) return false;
    const started = performance.now();
    res.once("close", () => {
      const route = requestContext(req).route ?? UNMATCHED_ROUTE;
      metrics.observeHttp(req.method ?? "GET", route, res.statusCode, (performance.now() - started) / 1000);
    });
    return false;
  };
}
