import { writeHead, type NodeRequest, type NodeResponse } from "./node-http.js";
import { payloadTooLarge } from "./errors.js";

export type { NodeRequest, NodeResponse };

/**
 * HttpHandler is one link of the gateway's request chain. It resolves true when it answered the request (or took
 * it over, like a stream) and false to pass it on to the next link.
 */
export type HttpHandler = (req: NodeRequest, res: NodeResponse) => Promise<boolean>;

/** chain runs handlers in order until one handles the request. */
export function chain(handlers: readonly HttpHandler[]): HttpHandler {
  return async (req, res) => {
    for (const handler of handlers) {
      if (await handler(req, res)) return true;
    }
    return false;
  };
}

/** pathOf is the request's path without the query string. */
export function pathOf(req: NodeRequest): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** headerOf reads one request header as a string (the first value when repeated). */
export function headerOf(req: NodeRequest, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** sendJson answers with a JSON body. */
export function sendJson(res: NodeResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  writeHead(res, status, { ...headers, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * readBody collects a request body, failing with a 413 (payloadTooLarge) as soon as it passes `maxBytes`, whether
 * or not the client declared a Content-Length: a chunked upload is cut off, not buffered whole first.
 */
export async function readBody(req: NodeRequest, maxBytes: number): Promise<Buffer> {
  const declared = Number(headerOf(req, "content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) throw payloadTooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > maxBytes) throw payloadTooLarge(maxBytes);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * createBodyLimitHandler rejects a request whose declared Content-Length is over the limit with a 413, before
 * anything reads it: the REST envelope, or for a Connect unary call Connect's own error body (`reject` decides).
 * Connect would answer its readMaxBytes error with RESOURCE_EXHAUSTED's HTTP status, 429, which tells a client to
 * retry later; the same body over REST is 413, and 429 stays free for load shedding (with Retry-After). gRPC and
 * gRPC-Web calls are left to the adapter, whose readMaxBytes answers RESOURCE_EXHAUSTED in the protocol (their HTTP
 * status is always 200), as are Connect streams (the limit is per message there); undeclared (chunked) REST bodies
 * are capped by readBody.
 */
export function createBodyLimitHandler(
  maxBytes: number,
  isRpcPath: (path: string) => boolean,
  reject: (req: NodeRequest, res: NodeResponse, err: unknown) => void,
): HttpHandler {
  return async (req, res) => {
    if (isRpcPath(pathOf(req)) && !isConnectUnary(req)) return false;
    const declared = Number(headerOf(req, "content-length"));
    if (!Number.isFinite(declared) || declared <= maxBytes) return false;
    // Answer without reading the body; closing afterwards stops an HTTP/1.1 client from streaming it all anyway.
    // (HTTP/2 has no Connection header: there the stream is simply reset after the answer.)
    if (req.httpVersionMajor === 1) res.setHeader("connection", "close");
    reject(req, res, payloadTooLarge(maxBytes));
    return true;
  };
}

/** CONNECT_UNARY matches the content types of a Connect unary call (JSON or binary; streams are `connect+…`). */
const CONNECT_UNARY = /^application\/(json|proto)\s*(;|$)/i;

/** isConnectUnary tells a Connect unary call (a POST with a Connect unary content type) from gRPC, gRPC-Web, streams. */
export function isConnectUnary(req: NodeRequest): boolean {
  return req.method === "POST" && CONNECT_UNARY.test(headerOf(req, "content-type") ?? "");
}
