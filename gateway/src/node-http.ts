import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** NodeRequest is a request from either listener protocol: HTTP/1.1 or HTTP/2 (h2c). */
export type NodeRequest = IncomingMessage | Http2ServerRequest;
/** NodeResponse is the matching response. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * writeHead sends the status line and headers on either kind of response. Both accept `(status, headers)`, but
 * @types/node 24 declares their overloads so that a call on the union does not type-check.
 */
export function writeHead(res: NodeResponse, status: number, headers?: OutgoingHttpHeaders): void {
  (res.writeHead as (status: number, headers?: OutgoingHttpHeaders) => unknown).call(res, status, headers);
}
