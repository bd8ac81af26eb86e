/**
 * A lean unary gRPC call over a Connect Http2SessionManager, for the gateway's hot path (REST reads, forwarded
 * unary RPCs). Why not the Connect client: for a unary call it runs the generic streaming machinery — async-iterable
 * pipes for one request and one response message, a linked AbortController and a deadline AbortController per call
 * (each aborted with a ConnectError, and so a DOMException, when the call ends), Headers objects converted back and
 * forth. Under P2 load that was the largest share of the gateway's CPU (bench/FINDINGS.md, "Fixes: gateway").
 * Here a call is one HTTP/2 stream with plain header objects, one framed write and one buffered read; the session
 * (connect, keep-alive pings, reconnects) is still Connect's, and every outcome goes through Connect's own gRPC
 * protocol helpers (validateResponse, validateTrailer), so codes, messages, details and metadata are the ones the
 * Connect client produced.
 */
import http2 from "node:http2";
import { fromBinary, toBinary, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";

/** Cancel is a cancellation hook without an AbortController: `cancel()` ends the call's stream (if still open). */
export class Cancel {
  private listener: (() => void) | undefined;
  private cancelled = false;

  /** cancel cancels the call; after the call finished it does nothing. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.listener?.();
  }

  /** onCancel is for callUnary: the one listener of this hook, called at once when already cancelled. */
  onCancel(listener: (() => void) | undefined): void {
    this.listener = listener;
    if (listener && this.cancelled) listener();
  }
}

/** UnaryCallOptions are what one forwarded call carries. */
export interface UnaryCallOptions {
  /** headers are the forwarded metadata (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** timeoutMs is the deadline (sent as grpc-timeout and enforced here); 0 or less: none. */
  readonly timeoutMs: number;
  /** signal cancels with the caller (a Connect handler context's signal). */
  readonly signal?: AbortSignal | undefined;
  /** cancel cancels with the caller, cheaply (a REST response's close). */
  readonly cancel?: Cancel | undefined;
}

/** UnaryResult is the response message and the backend's response header and trailer (built only when asked). */
export interface UnaryResult<O> {
  readonly message: O;
  header(): Headers;
  trailer(): Headers;
}

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const USER_AGENT = "connect-es/2.1.2 (shopmesh-gateway)";

/**
 * callUnary calls a unary method on the session's backend. It rejects with a ConnectError: the backend's status
 * (with its details and the response metadata), DEADLINE_EXCEEDED when `timeoutMs` passes, CANCELED when the caller
 * goes away, UNAVAILABLE when the backend cannot be reached.
 */
export function callUnary<I extends DescMessage, O extends DescMessage>(
  session: Http2SessionManager,
  method: DescMethod & { input: I; output: O },
  input: MessageShape<I>,
  options: UnaryCallOptions,
): Promise<UnaryResult<MessageShape<O>>> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let stream: http2.ClientHttp2Stream | undefined;
    let timer: NodeJS.Timeout | undefined;
    let responseHeaders: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let headerError: ConnectError | undefined;
    const chunks: Buffer[] = [];

    const cleanup = () => {
      settled = true;
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      options.cancel?.onCancel(undefined);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      cleanup();
      const connectError = fromNodeReason(error);
      // gRPC over HTTP/2: a client that gives up (deadline, cancellation) resets the stream with CANCEL.
      if (stream && !stream.closed) {
        const code =
          connectError.code === Code.Canceled || connectError.code === Code.DeadlineExceeded ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;
        stream.close(code);
      }
      reject(connectError);
    };
    function onAbort() {
      fail(ConnectError.from(options.signal?.reason, Code.Canceled));
    }

    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort);
    options.cancel?.onCancel(() => fail(new ConnectError("the caller went away", Code.Canceled)));
    if (settled) return;
    const timeoutMs = options.timeoutMs > 0 ? options.timeoutMs : undefined;
    if (timeoutMs !== undefined)
      timer = setTimeout(() => fail(new ConnectError("the operation timed out", Code.DeadlineExceeded)), timeoutMs);

    const headers: Record<string, string> = {
      ...options.headers,
      "content-type": "application/grpc+proto",
      "user-agent": USER_AGENT,
      te: "trailers",
    };
    if (timeoutMs !== undefined) headers["grpc-timeout"] = `${timeoutMs}m`;
    const body = frame(toBinary(method.input, input));

    session.request("POST", `/${method.parent.typeName}/${method.name}`, headers, {}).then((opened) => {
      stream = opened;
      if (settled) {
        opened.close(NGHTTP2_CANCEL);
        return;
      }
      opened.on("response", (received) => {
        responseHeaders = received;
        const status = Number(received[":status"] ?? 0);
        const contentType = received["content-type"];
        // The common case (200, a gRPC content type, status in the trailer) needs no Headers object.
        if (
          status !== 200 ||
          typeof contentType !== "string" ||
          !contentType.startsWith("application/grpc") ||
          received["grpc-status"] !== undefined
        ) {
          try {
            headerError = validateResponse(status, toWebHeaders(received)).headerError;
          } catch (error) {
            fail(error);
          }
        }
      });
      opened.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        session.notifyResponseByteRead(opened);
      });
      opened.on("trailers", (received) => {
        trailers = received;
      });
      opened.on("end", () => {
        if (settled) return;
        try {
          const result = finish(method.output, responseHeaders ?? {}, trailers ?? {}, chunks, headerError);
          cleanup();
          resolve(result);
        } catch (error) {
          fail(error);
        }
      });
      opened.on("error", fail);
      opened.on("close", () => {
        if (settled) return;
        fail(resetError(opened.rstCode) ?? new ConnectError("protocol error: the stream closed without a status", Code.Internal));
      });
      opened.end(body);
    }, fail);
  });
}

/** finish checks the status the way Connect's gRPC transport does, then decodes the one response message. */
function finish<O extends DescMessage>(
  schema: O,
  header: http2.IncomingHttpHeaders,
  trailer: http2.IncomingHttpHeaders,
  chunks: readonly Buffer[],
  headerError: ConnectError | undefined,
): UnaryResult<MessageShape<O>> {
  const messages = unframe(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  if (trailer["grpc-status"] !== "0" || headerError !== undefined || messages.length !== 1) {
    validateTrailer(toWebHeaders(trailer), toWebHeaders(header));
    if (messages.length === 0) {
      if (headerError) throw headerError;
      throw new ConnectError(
        "protocol error: missing output message for unary method",
        trailer["grpc-status"] !== undefined ? Code.Unimplemented : Code.Unknown,
      );
    }
    if (messages.length > 1) throw new ConnectError("protocol error: received extra output message for unary method", Code.Unimplemented);
    if (headerError) throw new ConnectError("protocol error: received output message for unary method with error status", Code.Unknown);
  }
  const message = fromBinary(schema, messages[0]!);
  return { message, header: () => toWebHeaders(header), trailer: () => toWebHeaders(trailer) };
}

/** frame is a gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, the bytes. */
function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** unframe splits a response body into its messages; no compression was offered, so a compressed one is an error. */
function unframe(body: Buffer): Uint8Array[] {
  const messages: Uint8Array[] = [];
  for (let at = 0; at < body.length; ) {
    if (body.length - at < 5) throw new ConnectError("protocol error: incomplete envelope", Code.Internal);
    const flags = body[at]!;
    const length = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < length)
      throw new ConnectError(`protocol error: promised ${length} bytes in enveloped message, got less`, Code.Internal);
    if ((flags & 0b1) !== 0)
      throw new ConnectError("protocol error: received compressed output without a negotiated encoding", Code.Internal);
    messages.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}

/** toWebHeaders converts Node's header object (pseudo-headers left out), as Connect's node client does. */
function toWebHeaders(node: http2.IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(key, item);
    else headers.append(key, String(value));
  }
  return headers;
}

/** resetError maps an RST_STREAM code to a ConnectError as gRPC does (PROTOCOL-HTTP2.md#errors), like Connect. */
function resetError(rstCode: number | undefined): ConnectError | undefined {
  const c = http2.constants;
  const message = () => `http/2 stream closed with error code 0x${(rstCode ?? 0).toString(16)}`;
  switch (rstCode) {
    case c.NGHTTP2_PROTOCOL_ERROR:
    case c.NGHTTP2_INTERNAL_ERROR:
    case c.NGHTTP2_FLOW_CONTROL_ERROR:
    case c.NGHTTP2_SETTINGS_TIMEOUT:
    case c.NGHTTP2_FRAME_SIZE_ERROR:
    case c.NGHTTP2_COMPRESSION_ERROR:
    case c.NGHTTP2_CONNECT_ERROR:
      return new ConnectError(message(), Code.Internal);
    case c.NGHTTP2_REFUSED_STREAM:
      return new ConnectError(message(), Code.Unavailable);
    case c.NGHTTP2_CANCEL:
      return new ConnectError(message(), Code.Canceled);
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return new ConnectError(message(), Code.ResourceExhausted);
    case c.NGHTTP2_INADEQUATE_SECURITY:
    case c.NGHTTP2_HTTP_1_1_REQUIRED:
      return new ConnectError(message(), Code.PermissionDenied);
    default:
      return undefined;
  }
}

/** fromNodeReason turns a Node error into a ConnectError with the code Connect's node client gives it. */
function fromNodeReason(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  const codes = new Set<unknown>();
  for (let error: unknown = reason, depth = 0; error instanceof Error && depth < 8; error = error.cause, depth++) {
    codes.add((error as NodeJS.ErrnoException).code);
  }
  let code = Code.Internal;
  if (
    codes.has("ERR_STREAM_WRITE_AFTER_END") ||
    codes.has("ERR_STREAM_DESTROYED") ||
    codes.has("ERR_HTTP2_INVALID_STREAM") ||
    codes.has("ECONNRESET")
  ) {
    code = Code.Aborted;
  } else if (codes.has("ETIMEDOUT") || codes.has("ENOTFOUND") || codes.has("EAI_AGAIN") || codes.has("ECONNREFUSED")) {
    code = Code.Unavailable;
  }
  const error = ConnectError.from(reason, code);
  if (error !== reason) error.cause = reason;
  return error;
}
