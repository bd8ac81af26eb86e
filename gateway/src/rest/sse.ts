/**
 * Server-Sent Events for server-streaming RPCs (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * one `data:` line of JSON per message, `event: error` with the error envelope when the stream fails, and a final
 * `event: end` when it completes — an EventSource reconnects after any close, so clients close on `end`.
 */
import { writeHead } from "../node-http.js";
import type { JsonValue } from "@bufbuild/protobuf";
import type { NodeResponse } from "../http-handler.js";

/** HEARTBEAT_MS keeps idle streams (an order waiting for payment) open through proxies with idle timeouts. */
const HEARTBEAT_MS = 15_000;

/** SseWriter writes events to a response whose headers it has sent. */
export interface SseWriter {
  send(event: string | undefined, data: JsonValue, id?: number): void;
  close(): void;
}

/** openSse sends the event-stream headers (plus `headers`) and returns a writer. */
export function openSse(res: NodeResponse, headers: Record<string, string>): SseWriter {
  writeHead(res, 200, {
    ...headers,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    // nginx and similar buffer responses unless told otherwise; a buffered stream is not a stream.
    "x-accel-buffering": "no",
  });
  // The two response types' write overloads do not unify; both take a string.
  const write = (chunk: string) => (res as { write(chunk: string): boolean }).write(chunk);
  const heartbeat = setInterval(() => write(": keep-alive\n\n"), HEARTBEAT_MS);
  heartbeat.unref();
  return {
    send(event, data, id) {
      let frame = "";
      if (event !== undefined) frame += `event: ${event}\n`;
      if (id !== undefined) frame += `id: ${id}\n`;
      // JSON.stringify never emits a raw newline, so one data line per event is always enough.
      frame += `data: ${JSON.stringify(data)}\n\n`;
      write(frame);
    },
    close() {
      clearInterval(heartbeat);
      if (!res.writableEnded) res.end();
    },
  };
}
