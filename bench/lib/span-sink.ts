import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * SpanSink is a stand-in Zipkin collector for the tracing-cost measures: it accepts `POST /api/v2/spans` (Zipkin's
 * JSON v2, what the services export with TRACING=zipkin), counts the spans and drops them. Hand-written because the
 * point is to charge the services only for what tracing costs them (making spans, batching, serializing, the HTTP
 * export): a real Zipkin is a JVM that would take its own share of the two cores from the side being measured.
 * The count proves the traced side really exported, and the untraced side nothing.
 */
export class SpanSink {
  /** spans counts every span received so far. */
  spans = 0;

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<SpanSink> {
    let sink: SpanSink | undefined;
    const server = http.createServer((req, res) => {
      if (req.method !== "POST" || req.url !== "/api/v2/spans") {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
          if (sink && Array.isArray(body)) sink.spans += body.length;
          res.writeHead(202).end();
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    sink = new SpanSink(server);
    return sink;
  }

  /** endpoint is what ZIPKIN_ENDPOINT should say. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v2/spans`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
