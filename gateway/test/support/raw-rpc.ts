/**
 * Raw RPC calls for protocol-level tests: bytes a typed client would never send (malformed protobuf, unknown
 * methods), and the status exactly as it arrives on the wire (HTTP status, headers, gRPC trailers).
 */
import http2 from "node:http2";

/** RawAnswer is what came back: HTTP status, headers, trailers (gRPC-Web: decoded from the body) and the body. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: Buffer;
}

/** grpcFrame wraps message bytes in a gRPC length-prefixed frame (flag 0). */
export function grpcFrame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** grpcStatusOf reads the gRPC status from the trailers, or from the headers of a trailers-only answer. */
export function grpcStatusOf(answer: RawAnswer): { code: string | undefined; message: string | undefined } {
  const from = answer.trailers["grpc-status"] !== undefined ? answer.trailers : answer.headers;
  const message = from["grpc-message"];
  return { code: from["grpc-status"], message: message === undefined ? undefined : decodeURIComponent(message) };
}

/** callGrpc POSTs one gRPC request over h2c (prior knowledge) and collects the answer and its trailers. */
export function callGrpc(baseUrl: string, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc+proto",
      te: "trailers",
      ...headers,
    });
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    let trailers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = flatten(h);
    });
    stream.on("trailers", (t) => {
      trailers = flatten(t);
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(chunks) });
    });
    stream.end(body);
  });
}

/** callGrpcWeb POSTs one gRPC-Web request over HTTP/1.1; the trailers are the body's trailer frame (flag 0x80). */
export async function callGrpcWeb(baseUrl: string, path: string, body: Buffer): Promise<RawAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
    body,
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const trailers: Record<string, string> = {};
  for (let at = 0; at + 5 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at + 1);
    if ((bytes[at]! & 0x80) !== 0) {
      for (const line of bytes
        .subarray(at + 5, at + 5 + length)
        .toString()
        .split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    at += 5 + length;
  }
  return { status: res.status, headers: Object.fromEntries(res.headers), trailers, body: bytes };
}

function flatten(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : String(value);
  }
  return out;
}
