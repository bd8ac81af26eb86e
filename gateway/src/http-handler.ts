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
 * createBodyLimitHandler rejects a request whose declared Content-Length is over the limit with a 413 envelope,
 * before anything reads it. RPC paths are left to the Connect adapter (its readMaxBytes answers
 * RESOURCE_EXHAUSTED in the protocol the client speaks); undeclared (chunked) bodies are capped by readBody.
 */
export function createBodyLimitHandler(
  maxBytes: number,
  isRpcPath: (path: string) => boolean,
  reject: (req: NodeRequest, res: NodeResponse, err: unknown) => void,
): HttpHandler {
  return async (req, res) => {
    if (isRpcPath(pathOf(req))) return false;
    const declared = Number(headerOf(req, "content-length"));
    if (!Number.isFinite(declared) || declared <= maxBytes) return false;
    // Answer without reading the body; closing afterwards stops an HTTP/1.1 client from streaming it all anyway.
    // (HTTP/2 has no Connection header: there the stream is simply reset after the answer.)
    if (req.httpVersionMajor === 1) res.setHeader("connection", "close");
    reject(req, res, payloadTooLarge(maxBytes));
    return true;
  };
}
