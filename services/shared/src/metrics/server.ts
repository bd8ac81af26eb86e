import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ProcessMetrics } from "./index.js";

/** MetricsServer is a running metrics listener. */
export interface MetricsServer {
  /** port is the bound port (the real one when METRICS_PORT=0). */
  readonly port: number;
  /** url is `http://host:port/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * serveMetrics answers `GET /metrics` on a small HTTP/1.1 listener of its own, bound on the process's HOST and
 * METRICS_PORT: the internals stay off the public gRPC and HTTP ports, and a scrape never queues behind (or is
 * shed with) business traffic. Anything else is 404.
 */
export async function serveMetrics(metrics: ProcessMetrics, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found; try GET /metrics\n");
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(req.method === "HEAD" ? undefined : text),
      (error: unknown) => res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${String(error)}\n`),
    );
  });
  // A scraper keeps its connection open between scrapes; it must not hold the process's stop up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
