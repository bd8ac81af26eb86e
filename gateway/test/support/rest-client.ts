/**
 * Small helpers for REST tests: JSON calls with fetch, and a Server-Sent Events reader.
 */
import { expect } from "vitest";

/** RestAnswer is a parsed REST response. */
export interface RestAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any; // JSON under test
}

/** call sends a request and parses a JSON answer (an empty body becomes undefined). */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; headers?: Record<string, string>; token?: string } = {},
): Promise<RestAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers["authorization"] = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers["content-type"] ??= "application/json";
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) };
}

/** expectEnvelope asserts the one error envelope: status, code, a message, and the trace id of the header. */
export function expectEnvelope(answer: RestAnswer, status: number, code: string, message?: RegExp): void {
  expect({ status: answer.status, code: answer.body?.code }, JSON.stringify(answer.body)).toEqual({ status, code });
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  expect(answer.body.traceId).toMatch(/^[0-9a-f]{32}$/);
  expect(answer.body.traceId).toBe(answer.headers.get("trace-id"));
  expect(answer.body.details).toEqual([]);
  if (message) expect(answer.body.message).toMatch(message);
}

/** SseEvent is one event of an event stream. */
export interface SseEvent {
  readonly event: string;
  readonly data: any; // JSON under test
}

/**
 * readSse reads events from a text/event-stream response until `stop` says so or the stream ends, then cancels the
 * body. The test timeout bounds the wait.
 */
export async function readSse(res: Response, stop: (event: SseEvent) => boolean = () => false): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return events;
      buffer += value;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data: string[] = [];
        for (const line of frame.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length === 0) continue; // a comment (heartbeat)
        const parsed = { event, data: JSON.parse(data.join("\n")) };
        events.push(parsed);
        if (stop(parsed)) return events;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
