/**
 * The OpenAPI document: built from the same route table as the REST handler, structurally valid (every route with
 * its method, parameters declared, $refs resolving, required fields existing), committed in sync with the
 * generator, and served at /openapi.json with the Swagger UI viewer at /docs.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { openApiJson } from "../src/openapi/index.js";
import { apiRouteTable } from "../src/rest/index.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { call, expectEnvelope } from "./support/rest-client.js";

/** Json is a JSON document under test, read freely. */
type Json = any;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const generated = openApiJson(loadConfig({}));
const doc: Json = JSON.parse(generated);
const table = apiRouteTable();

function resolvePointer(ref: string): unknown {
  expect(ref.startsWith("#/"), ref).toBe(true);
  let node: Json = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    node = node?.[key];
  }
  return node;
}

function collectRefs(node: Json, refs: Set<string>): Set<string> {
  if (Array.isArray(node)) for (const item of node) collectRefs(item, refs);
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string") refs.add(value);
      else collectRefs(value, refs);
    }
  }
  return refs;
}

function operations(): { path: string; method: string; op: Json }[] {
  return Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([p, item]) =>
    Object.entries(item).map(([method, op]) => ({ path: p, method, op })),
  );
}

describe("the OpenAPI document", () => {
  it("when generated, then it is OpenAPI 3.1 with info, tags and the shared error envelope", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.responses.Error.content["application/json"].schema.$ref).toBe("#/components/schemas/ErrorEnvelope");
    expect(doc.components.schemas.ErrorEnvelope.required).toEqual(["code", "message", "traceId", "details"]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
  });

  it("when generated, then every route of the table is an operation with its method, and nothing else", () => {
    const fromTable = table.routes.map((r) => `${r.httpMethod.toLowerCase()} ${r.template.source}`).sort();
    const fromDoc = operations()
      .map((o) => `${o.method} ${o.path}`)
      .sort();

    expect(fromDoc).toEqual(fromTable);
    const ids = operations().map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("when an operation has path variables, then each is a required path parameter", () => {
    for (const { path: p, op } of operations()) {
      const variables = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters as Json[]).filter((x) => x.in === "path").map((x) => x.name);
      expect(declared, p).toEqual(variables);
      for (const parameter of op.parameters as Json[]) if (parameter.in === "path") expect(parameter.required).toBe(true);
    }
  });

  it("when walked, then every $ref resolves and every required property exists", () => {
    for (const ref of collectRefs(doc, new Set())) expect(resolvePointer(ref), ref).toBeDefined();
    const check = (schema: Json, where: string) => {
      for (const name of schema.required ?? []) expect(schema.properties?.[name], `${where}.${name}`).toBeDefined();
    };
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Json>)) check(schema, name);
    for (const { path: p, op } of operations()) {
      const body = op.requestBody?.content?.["application/json"]?.schema;
      if (body && !body.$ref) check(body, p);
    }
  });

  it("when a message is described, then names are JSON names, enums strings, int64 strings and timestamps date-times", () => {
    const { schemas } = doc.components;

    expect(Object.keys(schemas["shop.order.v2.Order"].properties)).toContain("createTime");
    expect(schemas["shop.order.v2.Order"].properties.createTime).toMatchObject({ type: "string", format: "date-time" });
    expect(schemas["shop.order.v2.OrderStatus"]).toEqual({ type: "string", enum: expect.arrayContaining(["ORDER_STATUS_CONFIRMED"]) });
    expect(schemas["shop.common.v1.Money"].properties.amountMinor).toMatchObject({ type: "string", format: "int64" });
    expect(schemas["shop.common.v1.Money"].description).toMatch(/minor units/);
    expect(schemas["shop.order.v2.CreateOrderRequest"].required).toEqual(["customerId", "items", "payment"]);
  });

  it("when a route writes, creates, streams or is deprecated, then the operation says so", () => {
    const createV2 = doc.paths["/api/v2/orders"].post;
    const createV1 = doc.paths["/api/v1/orders"].post;
    const cancelV2 = doc.paths["/api/v2/orders/{order_id}:cancel"].post;
    const watchV2 = doc.paths["/api/v2/orders/{order_id}:watch"].get;
    const listV2 = doc.paths["/api/v2/orders"].get;

    expect(createV2.security).toEqual([{ bearerAuth: ["orders:write"] }]);
    expect(createV2.responses["401"]).toBeDefined();
    expect(createV2.responses["201"].headers.Location).toBeDefined();
    expect(createV2.parameters.map((x: Json) => x.name)).toContain("Idempotency-Key");
    expect(createV2.deprecated).toBeUndefined();
    expect(createV1.deprecated).toBe(true);
    expect(createV1.responses["201"].headers.Sunset).toBeDefined();
    expect(doc.paths["/api/v1/payments"].get.deprecated).toBeUndefined();
    expect(cancelV2.requestBody.content["application/json"].schema.properties.orderId).toBeUndefined();
    expect(watchV2.responses["200"].content["text/event-stream"]).toBeDefined();
    expect(listV2.security).toEqual([{ bearerAuth: [] }]);
    expect(listV2.parameters.map((x: Json) => x.name)).toEqual(["pageSize", "pageToken", "customerId", "status"]);
    expect(listV2.responses.default.$ref).toBe("#/components/responses/Error");
  });

  it("when a route reads orders or payments, then it needs a token (payments: the admin scope); product reads stay open", () => {
    const orderReads = [doc.paths["/api/v1/orders/{order_id}"].get, doc.paths["/api/v2/orders/{order_id}:watch"].get];
    const paymentRead = doc.paths["/api/v1/payments/{payment_id}"].get;
    const productRead = doc.paths["/api/v1/products/{product_id}"].get;

    for (const read of orderReads) {
      expect(read.security).toEqual([{ bearerAuth: [] }]);
      expect(read.responses["401"].$ref).toBe("#/components/responses/Error");
      expect(read.responses["403"].$ref).toBe("#/components/responses/Error");
    }
    expect(paymentRead.security).toEqual([{ bearerAuth: ["admin"] }]);
    expect(productRead.security).toBeUndefined();
    expect(productRead.responses["401"]).toBeUndefined();
  });

  it("when a route is a server stream, then its answer is described as text/event-stream with its events' payloads", () => {
    const streams = table.routes.filter((r) => r.streaming);
    expect(streams.length).toBeGreaterThan(0);

    for (const route of streams) {
      const op = doc.paths[route.template.source.replace(/\{([^}=]+)(?:=[^}]*)?\}/g, "{$1}")][route.httpMethod.toLowerCase()];
      const ok = op.responses["200"];
      expect(Object.keys(ok.content), route.template.source).toEqual(["text/event-stream"]);
      const media = ok.content["text/event-stream"];
      expect(media.schema).toMatchObject({ type: "string", description: expect.stringMatching(/event: error[\s\S]*event: end/) });
      expect(resolvePointer(media["x-sse-data"].$ref)).toBeDefined();
      expect(media["x-sse-error"]).toEqual({ $ref: "#/components/schemas/ErrorEnvelope" });
    }
  });

  it("when generated twice, then the output is byte-identical and keys are sorted", () => {
    expect(openApiJson(loadConfig({}))).toBe(generated);
    expect(Object.keys(doc)).toEqual([...Object.keys(doc)].sort());
  });

  it("when compared with the committed openapi/openapi.json, then they are equal (run `npm run openapi` if not)", () => {
    const committed = readFileSync(path.join(ROOT, "openapi", "openapi.json"), "utf8");

    expect(committed).toBe(generated);
  });
});

describe("serving the document", () => {
  let gm: GatewayMesh;

  beforeAll(async () => {
    gm = await startGatewayMesh({ withoutMesh: true });
  });

  afterAll(async () => {
    await gm?.stop();
  });

  it("when /openapi.json is fetched, then it is the generated document", async () => {
    const res = await fetch(`${gm.baseUrl}/openapi.json`);

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.text()).toBe(generated);
  });

  it("when /docs is opened, then the Swagger UI page and its assets load", async () => {
    const page = await fetch(`${gm.baseUrl}/docs`);
    const html = await page.text();
    const bundle = await fetch(`${gm.baseUrl}/docs/swagger-ui-bundle.js`);
    const init = await fetch(`${gm.baseUrl}/docs/init.js`);

    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(html).toContain("/docs/swagger-ui-bundle.js");
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(await init.text()).toContain('url: "/openapi.json"');
  });

  it("when the versioning policy is fetched, then it is served as markdown", async () => {
    const res = await fetch(`${gm.baseUrl}/docs/versioning.md`);

    expect(res.status).toBe(200);
    expect(await res.text()).toContain("# API versioning");
  });

  it("when another /docs path is asked for, then 404 envelope (nothing outside the allowlist is reachable)", async () => {
    const missing = await call(gm.baseUrl, "GET", "/docs/package.json");
    const traversal = await call(gm.baseUrl, "GET", "/docs/..%2F..%2Fpackage.json");

    expectEnvelope(missing, 404, "NOT_FOUND");
    expectEnvelope(traversal, 404, "NOT_FOUND");
  });

  it("when /openapi.json is posted to, then 405 with Allow", async () => {
    const answer = await call(gm.baseUrl, "POST", "/openapi.json", { body: {} });

    expectEnvelope(answer, 405, "UNIMPLEMENTED");
    expect(answer.headers.get("allow")).toBe("GET, HEAD");
  });
});
