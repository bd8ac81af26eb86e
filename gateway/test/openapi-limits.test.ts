/**
 * The OpenAPI document promises exactly the bounds the services enforce. Each limit in FIELD_LIMITS is in the
 * document, and is walked both ways against the real mesh through the gateway: values at the bound are not
 * rejected for that field, values past it are 400 INVALID_ARGUMENT naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { openApiJson } from "../src/openapi/index.js";
import { FIELD_LIMITS, IDEMPOTENCY_KEY_LIMITS } from "../src/openapi/limits.js";
import { apiRouteTable } from "../src/rest/index.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { call, type RestAnswer } from "./support/rest-client.js";

/** Json is a JSON document under test, read freely. */
type Json = any;

const doc: Json = JSON.parse(openApiJson(loadConfig({})));
const UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000";
const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** documented finds what the document says of `<message>.<field>`: a component property, or an operation parameter. */
function documented(key: string): Json[] {
  const at = key.lastIndexOf(".");
  const [message, field] = [key.slice(0, at), key.slice(at + 1)];
  const found: Json[] = [];
  const property = doc.components.schemas[message]?.properties?.[camel(field)];
  if (property) found.push(property);
  for (const route of apiRouteTable().routes) {
    if (route.method.input.typeName !== message) continue;
    const path = route.template.source.replace(/\{([^}=]+)(?:=[^}]*)?\}/g, "{$1}");
    const operation = doc.paths[path]?.[route.httpMethod.toLowerCase()];
    // A body with path-bound fields left out is described inline, not as a component.
    const inline = operation?.requestBody?.content?.["application/json"]?.schema?.properties?.[camel(field)];
    if (inline) found.push(inline);
    for (const parameter of operation?.parameters ?? []) {
      if (parameter.name === field || parameter.name === camel(field)) found.push(parameter.schema);
    }
  }
  return found;
}

function keywords(limits: Json): Json {
  const { description: _, ...rest } = limits;
  return rest;
}

describe("the OpenAPI document's field limits", () => {
  it.each(Object.keys(FIELD_LIMITS))("when %s is documented, then it carries the enforced limits", (key) => {
    const schemas = documented(key);

    expect(schemas.length, key).toBeGreaterThan(0);
    for (const schema of schemas) expect(schema).toMatchObject(keywords(FIELD_LIMITS[key]));
  });

  it("when a write takes an Idempotency-Key, then the header's length limit is documented", () => {
    const header = doc.paths["/api/v2/orders"].post.parameters.find((p: Json) => p.name === "Idempotency-Key");

    expect(header.schema).toMatchObject(IDEMPOTENCY_KEY_LIMITS);
  });
});

describe("the limits, walked both ways against the services", () => {
  let gm: GatewayMesh;
  let token: string;

  beforeAll(async () => {
    gm = await startGatewayMesh();
    token = await gm.token();
  });

  afterAll(async () => {
    await gm?.stop();
  });

  // Orders name a product nobody stocks: a value the service accepts then fails on the product instead, so no
  // order is ever created and no stock is touched.
  const lines = (n: number, quantity = 1) => Array.from({ length: n }, (_, i) => ({ productId: `sku-limits-none-${i}`, quantity }));
  const v1Order = (o: Json) => ({ customerId: "c-limits", cardToken: "tok_visa", lines: lines(1), ...o });
  const v2Order = (o: Json) => ({ customerId: "c-limits", items: lines(1), payment: { cardToken: "tok_visa" }, ...o });
  const post = (path: string, body: Json, headers: Record<string, string> = {}) => call(gm.baseUrl, "POST", path, { body, token, headers });
  const get = (path: string) => call(gm.baseUrl, "GET", path, { token });

  interface Probe {
    field: string;
    send(value: Json): Promise<RestAnswer>;
    inside: Json[];
    outside: Json[];
  }
  const probes: Record<string, Probe> = {
    "shop.order.v1.CreateOrderRequest.customer_id": {
      field: "customer_id",
      send: (v) => post("/api/v1/orders", v1Order({ customerId: v })),
      inside: ["c", "c".repeat(64)],
      outside: ["", "c".repeat(65)],
    },
    "shop.order.v1.CreateOrderRequest.card_token": {
      field: "card_token",
      send: (v) => post("/api/v1/orders", v1Order({ cardToken: v })),
      inside: ["t", "t".repeat(128)],
      outside: ["", "t".repeat(129)],
    },
    "shop.order.v1.CreateOrderRequest.lines": {
      field: "lines",
      send: (v) => post("/api/v1/orders", v1Order({ lines: lines(v) })),
      inside: [1, 50],
      outside: [0, 51],
    },
    "shop.order.v1.CreateOrderLine.quantity": {
      field: "lines[0].quantity",
      send: (v) => post("/api/v1/orders", v1Order({ lines: lines(1, v) })),
      inside: [1, 1000],
      outside: [0, 1001],
    },
    "shop.order.v1.ListOrdersRequest.page_size": {
      field: "page_size",
      send: (v) => get(`/api/v1/orders?pageSize=${v}`),
      inside: [0, 1, 1000],
      outside: [-1],
    },
    "shop.order.v2.CreateOrderRequest.customer_id": {
      field: "customer_id",
      send: (v) => post("/api/v2/orders", v2Order({ customerId: v })),
      inside: ["c", "c".repeat(64)],
      outside: ["", "c".repeat(65)],
    },
    "shop.order.v2.PaymentMethod.card_token": {
      field: "payment.card_token",
      send: (v) => post("/api/v2/orders", v2Order({ payment: { cardToken: v } })),
      inside: ["t", "t".repeat(128)],
      outside: ["", "t".repeat(129)],
    },
    "shop.order.v2.CreateOrderRequest.items": {
      field: "items",
      send: (v) => post("/api/v2/orders", v2Order({ items: lines(v) })),
      inside: [1, 50],
      outside: [0, 51],
    },
    "shop.order.v2.CreateOrderItem.quantity": {
      field: "items[0].quantity",
      send: (v) => post("/api/v2/orders", v2Order({ items: lines(1, v) })),
      inside: [1, 1000],
      outside: [0, 1001],
    },
    "shop.order.v2.ListOrdersRequest.page_size": {
      field: "page_size",
      send: (v) => get(`/api/v2/orders?pageSize=${v}`),
      inside: [0, 1000],
      outside: [-1],
    },
    "shop.inventory.v1.ListProductsRequest.page_size": {
      field: "page_size",
      send: (v) => get(`/api/v1/products?pageSize=${v}`),
      inside: [0, 1000],
      outside: [-1],
    },
    "shop.payment.v1.ListPaymentsRequest.page_size": {
      field: "page_size",
      send: (v) => get(`/api/v1/payments?pageSize=${v}`),
      inside: [0, 1000],
      outside: [-1],
    },
    "shop.payment.v1.ListPaymentsRequest.order_id": {
      field: "order_id",
      send: (v) => get(`/api/v1/payments?orderId=${v}`),
      inside: [UNKNOWN_UUID],
      outside: ["not-a-uuid"],
    },
    "shop.payment.v1.GetPaymentRequest.payment_id": {
      field: "payment_id",
      send: (v) => get(`/api/v1/payments/${v}`),
      inside: [UNKNOWN_UUID],
      outside: ["not-a-uuid"],
    },
    "shop.payment.v1.RefundPaymentRequest.payment_id": {
      field: "payment_id",
      send: (v) => post(`/api/v1/payments/${v}:refund`, { reason: "limits" }),
      inside: [UNKNOWN_UUID],
      outside: ["not-a-uuid"],
    },
    "shop.payment.v1.RefundPaymentRequest.reason": {
      field: "reason",
      send: (v) => post(`/api/v1/payments/${UNKNOWN_UUID}:refund`, { reason: v }),
      inside: ["r".repeat(500)],
      outside: ["r".repeat(501)],
    },
    "Idempotency-Key": {
      field: "idempotency-key",
      send: (v) => post("/api/v2/orders", v2Order({}), { "idempotency-key": v }),
      inside: ["k".repeat(200)],
      outside: ["k".repeat(201)],
    },
  };

  it("when the limits are listed, then every one has a probe", () => {
    expect(Object.keys(probes).sort()).toEqual([...Object.keys(FIELD_LIMITS), "Idempotency-Key"].sort());
  });

  it.each(Object.keys(probes))("when %s is at its bounds, then it is accepted; past them, 400 naming it", async (key) => {
    const { field, send, inside, outside } = probes[key]!;
    const namesField = (answer: RestAnswer) =>
      answer.status === 400 && answer.body?.code === "INVALID_ARGUMENT" && String(answer.body.message).startsWith(`${field}:`);

    for (const value of inside) {
      const answer = await send(value);
      expect(namesField(answer), `${key} = ${JSON.stringify(value).slice(0, 40)}: ${JSON.stringify(answer.body)}`).toBe(false);
      expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
    }
    for (const value of outside) {
      const answer = await send(value);
      expect(namesField(answer), `${key} = ${JSON.stringify(value).slice(0, 40)}: ${JSON.stringify(answer.body)}`).toBe(true);
    }
  });
});
