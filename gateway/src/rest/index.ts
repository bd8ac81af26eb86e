/**
 * The REST/JSON surface: `/api/v1/...`, `/api/v2/...` and unversioned `/api/...`, transcoded to the backends' RPCs
 * by the route table derived from the `google.api.http` annotations. Every failure answers with the one error
 * envelope (errors.ts); server streams answer as Server-Sent Events (sse.ts).
 */
import { isUtf8 } from "node:buffer";
import { writeHead } from "../node-http.js";
import type { Message } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Logger } from "#shared/logger.js";
import type { Auth } from "../auth.js";
import { PUBLIC_SERVICES, type Backends } from "../backends.js";
import type { GatewayConfig } from "../config.js";
import { httpError, toConnectError, toErrorEnvelope, writeErrorEnvelope } from "../errors.js";
import { headerOf, pathOf, readBody, type HttpHandler, type NodeRequest, type NodeResponse } from "../http-handler.js";
import { Cancel } from "../grpc-unary.js";
import { requestContext } from "../request-context.js";
import { createOwnershipGuard, type OwnershipGuard } from "../ownership.js";
import { nameRequestSpan } from "../tracing.js";
import { expandPathTemplate } from "./path-template.js";
import { buildRouteTable, successorPath, versionOfPath, type RouteMatch, type RouteTable } from "./route-table.js";
import { openSse } from "./sse.js";
import { decodeRequest, encodeResponse } from "./transcode.js";
import { checkAcceptForVersion, deprecationHeaders, negotiateVersion, versionPolicyOf, type VersionPolicy } from "./versions.js";

/** RestDeps is what the REST handler needs of the gateway's GatewayDeps. */
export interface RestDeps {
  readonly config: Readonly<GatewayConfig>;
  readonly backends: Backends;
  readonly auth: Auth;
  readonly logger: Logger;
}

/** apiRouteTable is the route table of every public service; the OpenAPI document is built from the same call. */
export function apiRouteTable(): RouteTable {
  return buildRouteTable(PUBLIC_SERVICES.map(({ service }) => service));
}

/** createRestHandler serves every `/api` path; other paths pass on down the chain. */
export function createRestHandler(deps: RestDeps): HttpHandler {
  const table = apiRouteTable();
  const policy = versionPolicyOf(deps.config);
  const guard = createOwnershipGuard(deps.backends);
  for (const route of table.routes) {
    if (route.deprecated && !policy.has(route.version)) {
      throw new Error(`${route.service.typeName} is deprecated but no dates are configured for ${route.version}`);
    }
  }
  return async (req, res) => {
    const path = pathOf(req);
    if (path !== "/api" && !path.startsWith("/api/")) return false;
    const { traceId, logger } = requestContext(req);
    res.setHeader("trace-id", traceId);
    try {
      await serve(deps, table, policy, guard, req, res, path);
    } catch (err) {
      if (toConnectError(err).internal) logger.error({ err, path }, "REST request failed");
      writeErrorEnvelope(res, err, traceId);
    }
    return true;
  };
}

async function serve(
  deps: RestDeps,
  table: RouteTable,
  policy: VersionPolicy,
  guard: OwnershipGuard,
  req: NodeRequest,
  res: NodeResponse,
  path: string,
) {
  const accept = headerOf(req, "accept");
  const { match, contentType } = resolve(table, req.method ?? "GET", path, accept, res);
  const { route } = match;
  // The template, not the path: one series per route, whatever ids the callers send.
  requestContext(req).route = route.template.source;
  nameRequestSpan(requestContext(req).span, `${route.httpMethod} ${route.template.source}`, route.template.source);
  if (route.deprecated) {
    const dates = policy.get(route.version);
    if (dates) for (const [name, value] of Object.entries(deprecationHeaders(dates, successorPath(match)))) res.setHeader(name, value);
  }
  await deps.auth.authorizeRequest(req, route.method);
  let body = "";
  if (route.httpMethod !== "GET") {
    body = utf8Of(await readBody(req, deps.config.bodyLimitBytes));
    const type = headerOf(req, "content-type")?.split(";")[0]?.trim().toLowerCase();
    if (body.trim() !== "" && type !== undefined && type !== "application/json" && !/^application\/[\w.+-]*\+json$/.test(type)) {
      throw httpError(415, Code.InvalidArgument, `Content-Type: ${type} is not supported; send application/json`);
    }
  }
  const url = req.url ?? "/";
  const query = url.includes("?") ? new URL(url, "http://gateway").searchParams : NO_QUERY;
  const request = decodeRequest(route, { pathParams: match.pathParams, query, body });
  await guard.before(route.service, route.method, request, req);
  if (route.streaming) {
    // Streams follow an order for as long as it lives: no deadline, cancelled when the client goes away.
    const abort = new AbortController();
    res.once("close", () => abort.abort());
    const client = deps.backends.clientFor(route.service) as unknown as Record<string, Call>;
    const call = client[route.method.localName];
    if (!call) throw new Error(`no client method ${route.method.localName}`);
    const options = { ...deps.backends.callOptions(req, { signal: abort.signal }), timeoutMs: 0 };
    await stream(res, match, call(request, options) as AsyncIterable<Message>, requestContext(req).traceId);
    return;
  }
  // Unary: the lean call (grpc-unary.ts). A plain cancel hook instead of an AbortController: `close` fires after
  // every response, and aborting a controller each time built a DOMException per request for nothing.
  const cancel = new Cancel();
  res.once("close", () => cancel.cancel());
  const { message: response } = await deps.backends.unary(route.service, route.method, request, req, { cancel });
  await guard.after(route.service, route.method, response, req);
  if (route.empty) {
    writeHead(res, 204);
    res.end();
    return;
  }
  const json = encodeResponse(route, response);
  let status = 200;
  if (route.create) {
    const id = idOf(json, route.create.idField);
    const location = id === undefined ? undefined : expandPathTemplate(route.create.itemTemplate, new Map([[route.create.idField, id]]));
    if (location) {
      status = 201;
      res.setHeader("location", location);
    }
  }
  const text = JSON.stringify(json);
  writeHead(res, status, { "content-type": `${contentType}; charset=utf-8`, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * utf8Of decodes a JSON body (RFC 8259 §8.1: UTF-8), rejecting invalid UTF-8 with the offset of the first bad byte
 * instead of letting the decoder replace it with U+FFFD, which would store something the client never sent.
 */
function utf8Of(raw: Buffer): string {
  const text = raw.toString("utf8");
  if (isUtf8(raw)) return text;
  // Up to the first bad byte, decoding and re-encoding is the identity: the first difference is where it broke.
  const again = Buffer.from(text, "utf8");
  let at = 0;
  while (at < raw.length && raw[at] === again[at]) at++;
  throw httpError(400, Code.InvalidArgument, `request body is not valid UTF-8 (byte ${at})`);
}

type Call = (request: Message, options: object) => Promise<unknown> | AsyncIterable<unknown>;

/** NO_QUERY stands for the query of a URL without `?` (most reads): no URL parse for them. */
const NO_QUERY: URLSearchParams = new URLSearchParams();

/**
 * resolve finds the route of a request. A versioned path must exist in its version (404/405 otherwise). An
 * unversioned one is served by the negotiated version; without an explicit shop media type that is the newest
 * version having the path, so `/api/products` still reaches the only (v1) products API.
 */
function resolve(table: RouteTable, method: string, path: string, accept: string | undefined, res: NodeResponse) {
  const version = versionOfPath(path);
  let candidates: { version: string; path: string }[];
  let contentType = "application/json";
  if (version !== undefined) {
    if (!table.versions.includes(version))
      throw httpError(404, Code.NotFound, `API version ${version} does not exist (served: ${table.versions.join(", ")})`);
    const mismatch = checkAcceptForVersion(accept, version);
    if (mismatch) throw mismatch;
    candidates = [{ version, path }];
  } else {
    res.setHeader("vary", "Accept");
    const negotiated = negotiateVersion(accept, table.versions);
    if (negotiated instanceof Error) throw negotiated;
    contentType = negotiated.contentType;
    const explicit = negotiated.contentType !== "application/json";
    const versions = explicit ? [negotiated.version] : [...table.versions].reverse();
    candidates = versions.map((v) => ({ version: v, path: `/api/${v}${path.slice("/api".length)}` }));
  }
  let allow: readonly string[] | undefined;
  for (const candidate of candidates) {
    const lookup = table.lookup(method, candidate.path);
    if (lookup.kind === "match") return { match: lookup.match as RouteMatch, contentType };
    if (lookup.kind === "method-not-allowed") allow ??= lookup.allow;
  }
  if (allow) {
    res.setHeader("allow", allow.join(", "));
    throw httpError(405, Code.Unimplemented, `method ${method} is not allowed on ${path}; allowed: ${allow.join(", ")}`);
  }
  throw httpError(404, Code.NotFound, `no API route matches ${method} ${path}`);
}

/**
 * stream answers a server-streaming RPC as Server-Sent Events. The first message is awaited before any header is
 * sent, so a call that fails at once (NOT_FOUND) still answers with its status and the error envelope.
 */
async function stream(res: NodeResponse, match: RouteMatch, messages: AsyncIterable<Message>, traceId: string): Promise<void> {
  const iterator = messages[Symbol.asyncIterator]();
  const first = await iterator.next();
  const sse = openSse(res, {});
  let id = 0;
  try {
    for (let next = first; !next.done; next = await iterator.next()) {
      sse.send(undefined, encodeResponse(match.route, next.value), ++id);
    }
    sse.send("end", {});
  } catch (err) {
    if (!res.destroyed) sse.send("error", toErrorEnvelope(err, traceId).body as never);
  } finally {
    sse.close();
  }
}

function idOf(json: unknown, idField: string): string | undefined {
  // The created resource is the response's message-typed field that carries the id (`order.orderId`).
  if (json === null || typeof json !== "object") return undefined;
  const camel = idField.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const value of Object.values(json)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const id = (value as Record<string, unknown>)[camel];
      if (typeof id === "string" && id !== "") return id;
    }
  }
  return undefined;
}
