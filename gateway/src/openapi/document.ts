/**
 * The OpenAPI 3.1 document of the REST surface, built from the same route table the REST handler serves (so the
 * document cannot drift from the routes) and the message descriptors. It is deterministic: the same contracts give
 * byte-identical output (canonicalJson), which lets CI regenerate openapi/openapi.json and diff it.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { ERROR_STATUS_NAMES } from "#shared/errors.js";
import { accessOf } from "../auth.js";
import type { Route, RouteTable } from "../rest/route-table.js";
import { fieldAt } from "../rest/route-table.js";
import { VERSIONING_DOC_PATH, type VersionPolicy } from "../rest/versions.js";
import { IDEMPOTENCY_KEY_LIMITS, withLimits } from "./limits.js";
import { scalarSchema, SchemaRegistry, wellKnownSchema, type JsonSchema } from "./schemas.js";

/** OpenApiOptions are the document's inputs besides the routes. */
export interface OpenApiOptions {
  /** version is info.version (the package version). */
  readonly version: string;
  /** policy gives the deprecation and sunset dates of deprecated versions, written into their operations. */
  readonly policy: VersionPolicy;
}

/** buildOpenApiDocument describes every route of the table; see the file comment. */
export function buildOpenApiDocument(table: RouteTable, options: OpenApiOptions): JsonSchema {
  const registry = new SchemaRegistry();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of table.routes) {
    const path = openApiPath(route);
    paths[path] ??= {};
    paths[path][route.httpMethod.toLowerCase()] = operationOf(route, registry, options);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "shopmesh REST API",
      version: options.version,
      description: [
        "The REST/JSON face of the shopmesh gRPC services, transcoded by the gateway from their google.api.http annotations.",
        "Versions: /api/v1 and /api/v2 are served side by side; an unversioned /api/... path picks its version from",
        "`Accept: application/vnd.shop.v2+json` (or v1), defaulting to the newest. Deprecated versions answer with",
        `Deprecation, Sunset and Link headers; see ${VERSIONING_DOC_PATH}.`,
        "Writes and every order route need `Authorization: Bearer <jwt>`: a customer (the token's subject) sees and",
        "changes only their own orders, a token with the admin scope every order; payments need the admin scope.",
        "Server streams are Server-Sent Events: one `data:` JSON message",
        "per event, `event: error` with the error envelope on failure, `event: end` when the stream completes.",
        "Every error answers with the same envelope (ErrorEnvelope).",
      ].join(" "),
    },
    tags: [...new Set(table.routes.map((r) => r.service.typeName))].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...registry.schemas, ErrorEnvelope: errorEnvelopeSchema() },
      responses: {
        Error: {
          description: "The error envelope; the HTTP status follows the gRPC code (Connect's mapping).",
          headers: { "trace-id": { $ref: "#/components/headers/TraceId" } },
          content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } } },
        },
      },
      headers: {
        TraceId: { description: "The request's W3C trace id, also in the error envelope and the logs.", schema: { type: "string" } },
        Deprecation: { description: "RFC 9745: when this version was deprecated, as @<unix seconds>.", schema: { type: "string" } },
        Sunset: { description: "RFC 8594: the HTTP-date after which this version is no longer served.", schema: { type: "string" } },
        Link: { description: 'The successor-version route and the deprecation policy (rel="deprecation").', schema: { type: "string" } },
        Location: { description: "The created resource.", schema: { type: "string" } },
      },
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            "A JWT from the shop's issuer. Its subject is the customer the call acts for; the scopes an operation lists are all required (orders:write for order writes, admin for payments).",
        },
      },
    },
  };
}

/** canonicalJson serializes with object keys sorted at every level and a final newline: byte-stable output. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v === null || typeof v !== "object") return v;
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
    );
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

/** openApiPath writes `{order_id}` variables as OpenAPI path parameters; nested `{a.b}` keeps its dotted name. */
function openApiPath(route: Route): string {
  return route.template.source.replace(/\{([^}=]+)(?:=[^}]*)?\}/g, "{$1}");
}

function operationOf(route: Route, registry: SchemaRegistry, options: OpenApiOptions): JsonSchema {
  const where = `${route.service.typeName}.${route.method.name}`;
  const pathFields = new Set(route.template.variables.map((v) => v.fieldPath));
  const parameters: JsonSchema[] = route.template.variables.map((v) => ({
    name: v.fieldPath,
    in: "path",
    required: true,
    schema: withLimits(route.method.input.typeName, v.fieldPath, paramSchema(fieldAt(route.method.input, v.fieldPath, where))),
  }));
  if (route.body !== "*") parameters.push(...queryParameters(route.method.input, pathFields, route.body));
  if (route.httpMethod === "POST") {
    parameters.push({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description: "Repeating a write with the same key and request returns the first result instead of writing again.",
      schema: { type: "string", ...IDEMPOTENCY_KEY_LIMITS },
    });
  }
  const operation: JsonSchema = {
    operationId: where,
    tags: [route.service.typeName],
    summary: `${route.method.name} (${route.method.parent.typeName}/${route.method.name})`,
    parameters,
    responses: responsesOf(route, registry),
  };
  if (route.streaming) operation["description"] = "A server stream, answered as Server-Sent Events (text/event-stream).";
  if (route.body === "*") {
    // Path-bound fields are not part of the body, so a body schema leaves them out (and drops them from required).
    const schema = pathFields.size === 0 ? registry.ref(route.method.input) : registry.messageSchema(route.method.input, pathFields);
    operation["requestBody"] = jsonBody(schema);
  } else if (route.body !== "") {
    const field = fieldAt(route.method.input, route.body, where);
    operation["requestBody"] = jsonBody(field.fieldKind === "message" ? registry.ref(field.message) : paramSchema(field));
  }
  const access = accessOf(route.method);
  if (access.token) operation["security"] = [{ bearerAuth: [...access.scopes] }];
  if (route.deprecated) {
    operation["deprecated"] = true;
    const dates = options.policy.get(route.version);
    const successor = route.successor ? ` Use ${route.successor.httpMethod} ${route.successor.template.source}.` : "";
    const sunset = dates ? ` Served until ${dates.sunsetAt.toISOString().slice(0, 10)}.` : "";
    operation["description"] = `${operation["description"] ?? ""}${operation["description"] ? " " : ""}Deprecated.${successor}${sunset}`;
  }
  return operation;
}

/**
 * SSE_FRAMING says how a server stream's events are framed (rest/sse.ts). OpenAPI 3.1 has no schema per event (3.2's
 * itemSchema), so the payloads are named by `x-sse-data` (a message) and `x-sse-error` (the error envelope).
 */
const SSE_FRAMING =
  "Server-Sent Events. Each message is `id: <n>` and `data: <one JSON message, x-sse-data>`; a failure mid-stream is `event: error` with `data: <ErrorEnvelope, x-sse-error>`; the end of the stream is `event: end` (an EventSource would reconnect otherwise). `: keep-alive` comments every 15 s.";

function responsesOf(route: Route, registry: SchemaRegistry): JsonSchema {
  const headers: JsonSchema = { "trace-id": { $ref: "#/components/headers/TraceId" } };
  if (route.deprecated) {
    for (const name of ["Deprecation", "Sunset", "Link"]) headers[name] = { $ref: `#/components/headers/${name}` };
  }
  const output = route.responseBody ? fieldAt(route.method.output, route.responseBody, route.method.name) : undefined;
  const schema = output
    ? output.fieldKind === "message"
      ? registry.ref(output.message)
      : paramSchema(output)
    : registry.ref(route.method.output);
  const error = { $ref: "#/components/responses/Error" };
  const responses: JsonSchema = {};
  if (route.streaming) {
    responses["200"] = {
      description: `A stream of ${route.method.output.typeName} messages as Server-Sent Events.`,
      headers,
      content: {
        "text/event-stream": {
          schema: { type: "string", description: SSE_FRAMING },
          "x-sse-data": schema,
          "x-sse-error": { $ref: "#/components/schemas/ErrorEnvelope" },
        },
      },
    };
  } else if (route.empty) {
    responses["204"] = { description: "Done; no content.", headers };
  } else if (route.create) {
    responses["201"] = {
      description: "Created.",
      headers: { ...headers, Location: { $ref: "#/components/headers/Location" } },
      content: { "application/json": { schema } },
    };
  } else {
    responses["200"] = { description: "OK.", headers, content: { "application/json": { schema } } };
  }
  responses["400"] = error;
  if (accessOf(route.method).token) {
    responses["401"] = error;
    responses["403"] = error;
  }
  if (route.template.variables.length > 0) responses["404"] = error;
  responses["default"] = error;
  return responses;
}

/** queryParameters lists the request's fields a GET takes from the query: scalars, enums and their lists. */
function queryParameters(message: DescMessage, pathFields: ReadonlySet<string>, body: string): JsonSchema[] {
  const parameters: JsonSchema[] = [];
  for (const field of message.fields) {
    if (pathFields.has(field.name) || field.name === body) continue;
    // Query strings carry scalars only (transcode.ts rejects messages and maps there); Timestamps are strings.
    const fieldMessage =
      field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? field.message : undefined;
    if (field.fieldKind === "map") continue;
    const schema = fieldMessage ? wellKnownSchema(fieldMessage.typeName) : withLimits(message.typeName, field.name, paramSchema(field));
    if (schema === undefined) continue;
    const parameter: JsonSchema = { name: field.jsonName, in: "query", required: false, schema };
    if (field.fieldKind === "list") parameter["explode"] = true;
    if (field.jsonName !== field.name) parameter["description"] = `Also accepted as ${field.name}.`;
    parameters.push(parameter);
  }
  return parameters;
}

function paramSchema(field: DescField): JsonSchema {
  switch (field.fieldKind) {
    case "scalar":
      return scalarSchema(field.scalar);
    case "enum":
      return { type: "string", enum: field.enum.values.map((v) => v.name) };
    case "list":
      if (field.listKind === "scalar") return { type: "array", items: scalarSchema(field.scalar) };
      if (field.listKind === "enum") return { type: "array", items: { type: "string", enum: field.enum.values.map((v) => v.name) } };
      return { type: "array" };
    default:
      return { type: "string" };
  }
}

function jsonBody(schema: JsonSchema): JsonSchema {
  return { required: true, content: { "application/json": { schema } } };
}

function errorEnvelopeSchema(): JsonSchema {
  return {
    type: "object",
    description: "ErrorEnvelope is the one error body of the gateway.",
    required: ["code", "message", "traceId", "details"],
    properties: {
      code: { type: "string", enum: ERROR_STATUS_NAMES, description: "The gRPC status name." },
      message: { type: "string", description: "What went wrong; for bad input it starts with the field (`lines[1].quantity: ...`)." },
      traceId: { type: "string", description: "The request's trace id (also the trace-id header)." },
      details: {
        type: "array",
        items: {
          type: "object",
          required: ["type", "value"],
          properties: { type: { type: "string" }, value: { type: "string", contentEncoding: "base64" } },
        },
      },
    },
  };
}
