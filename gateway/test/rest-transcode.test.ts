import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { OrderStatus as OrderStatusV1, WatchOrderResponseSchema } from "#gen/shop/order/v1/order_service_pb.js";
import { expandPathTemplate, matchPathTemplate, parsePathTemplate } from "../src/rest/path-template.js";
import { apiRouteTable } from "../src/rest/index.js";
import type { Route } from "../src/rest/route-table.js";
import { decodeRequest, encodeResponse } from "../src/rest/transcode.js";

const table = apiRouteTable();

function route(method: string, path: string): Route {
  const lookup = table.lookup(method, path);
  if (lookup.kind !== "match") throw new Error(`no route ${method} ${path}: ${lookup.kind}`);
  return lookup.match.route;
}

function decodeError(r: Route, input: { body?: string; query?: string; pathParams?: Map<string, string> }): string {
  try {
    decodeRequest(r, { body: input.body ?? "", query: new URLSearchParams(input.query ?? ""), pathParams: input.pathParams ?? new Map() });
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    return (error as ConnectError).rawMessage;
  }
  throw new Error("decoding succeeded");
}

describe("path templates", () => {
  it("when a template has a variable and a custom verb, then it matches only paths with that verb", () => {
    const template = parsePathTemplate("/api/v1/orders/{order_id}:cancel");

    expect(matchPathTemplate(template, "/api/v1/orders/o-1:cancel")?.get("order_id")).toBe("o-1");
    expect(matchPathTemplate(template, "/api/v1/orders/o-1")).toBeUndefined();
    expect(matchPathTemplate(template, "/api/v1/orders/o-1:watch")).toBeUndefined();
    expect(expandPathTemplate(template, new Map([["order_id", "a b"]]))).toBe("/api/v1/orders/a%20b:cancel");
  });

  it("when a template has nested segments and a ** variable, then the variable takes the rest of the path", () => {
    const template = parsePathTemplate("/v1/{name=shelves/*/books/**}");

    expect(matchPathTemplate(template, "/v1/shelves/s1/books/b/c")?.get("name")).toBe("shelves/s1/books/b/c");
    expect(matchPathTemplate(template, "/v1/shelves/s1/x/b")).toBeUndefined();
  });

  it("when a template is malformed, then parsing names it", () => {
    expect(() => parsePathTemplate("api/v1")).toThrow(/must start with/);
    expect(() => parsePathTemplate("/api/{a")).toThrow(/unbalanced/);
  });
});

describe("the route table derived from google.api.http", () => {
  it("when built from the public services, then every annotated method has its route and version", () => {
    const routes = table.routes.map((r) => `${r.httpMethod} ${r.template.source}`).sort();

    expect(routes).toEqual(
      [
        "GET /api/v1/orders",
        "GET /api/v1/orders/{order_id}",
        "GET /api/v1/orders/{order_id}:watch",
        "GET /api/v1/orders/{order_id}/notifications",
        "GET /api/v1/orders/{order_id}/notifications:watch",
        "GET /api/v1/notifications/{notification_id}",
        "GET /api/v1/payments",
        "GET /api/v1/payments/{payment_id}",
        "GET /api/v1/products",
        "GET /api/v1/products/{product_id}",
        "GET /api/v1/reservations/{reservation_id}",
        "GET /api/v1/stock:watch",
        "GET /api/v2/orders",
        "GET /api/v2/orders/{order_id}",
        "GET /api/v2/orders/{order_id}:watch",
        "POST /api/v1/orders",
        "POST /api/v1/orders/{order_id}:cancel",
        "POST /api/v1/payments/{payment_id}:refund",
        "POST /api/v1/reservations/{reservation_id}:release",
        "POST /api/v2/orders",
        "POST /api/v2/orders/{order_id}:cancel",
      ].sort(),
    );
    expect(table.versions).toEqual(["v1", "v2"]);
  });

  it("when a v1 order route has a v2 twin, then it is deprecated and links its successor; payments are not", () => {
    const getV1 = route("GET", "/api/v1/orders/x");

    expect(getV1.deprecated).toBe(true);
    expect(getV1.successor?.template.source).toBe("/api/v2/orders/{order_id}");
    expect(route("GET", "/api/v2/orders/x").deprecated).toBe(false);
    expect(route("GET", "/api/v1/payments/p").deprecated).toBe(false);
  });

  it("when a POST creates on a collection, then it is a create whose Location is the item route", () => {
    const createV2 = route("POST", "/api/v2/orders");

    expect(createV2.create?.itemTemplate.source).toBe("/api/v2/orders/{order_id}");
    expect(route("POST", "/api/v2/orders/x:cancel").create).toBeUndefined();
  });

  it("when a path exists under another method, then the lookup says which methods are allowed", () => {
    expect(table.lookup("DELETE", "/api/v2/orders/x")).toEqual({ kind: "method-not-allowed", allow: ["GET"] });
    expect(table.lookup("GET", "/api/v2/nothing")).toEqual({ kind: "not-found" });
  });
});

describe("request transcoding", () => {
  const createV1 = route("POST", "/api/v1/orders");
  const listV1 = route("GET", "/api/v1/orders");
  const cancelV1 = route("POST", "/api/v1/orders/x:cancel");

  it("when a body uses JSON or proto field names, then both decode", () => {
    const body = JSON.stringify({ customer_id: "c-1", lines: [{ productId: "p-1", quantity: 2 }], cardToken: "tok" });

    const message = decodeRequest(createV1, { body, query: new URLSearchParams(), pathParams: new Map() }) as unknown as Record<
      string,
      unknown
    >;

    expect(message["customerId"]).toBe("c-1");
    expect((message["lines"] as { quantity: number }[])[0]?.quantity).toBe(2);
  });

  it("when query parameters carry pagination and filters, then they fill the request (short enum names too)", () => {
    const message = decodeRequest(listV1, {
      body: "",
      query: new URLSearchParams("page_size=5&pageToken=t&customerId=c-9&status=CONFIRMED"),
      pathParams: new Map(),
    }) as unknown as Record<string, unknown>;

    expect(message).toMatchObject({ pageSize: 5, pageToken: "t", customerId: "c-9", status: OrderStatusV1.CONFIRMED });
  });

  it("when the path names the order, then it wins over the body", () => {
    const message = decodeRequest(cancelV1, {
      body: JSON.stringify({ orderId: "other", reason: "r" }),
      query: new URLSearchParams(),
      pathParams: new Map([["order_id", "o-1"]]),
    }) as unknown as Record<string, unknown>;

    expect(message).toMatchObject({ orderId: "o-1", reason: "r" });
  });

  it("when the input is wrong, then the error names the field as the client spelled it", () => {
    expect(decodeError(createV1, { body: "{ not json" })).toMatch(/^body: malformed JSON/);
    expect(decodeError(createV1, { body: "[1]" })).toBe("body: must be a JSON object");
    expect(decodeError(createV1, { body: JSON.stringify({ customerId: 7 }) })).toMatch(/^customerId: expected string/);
    expect(decodeError(createV1, { body: JSON.stringify({ lines: [{ quantity: 1 }, { quantity: "x" }] }) })).toMatch(
      /^lines\[1\]\.quantity: /,
    );
    expect(decodeError(createV1, { body: JSON.stringify({ lines: [{ colour: "red" }] }) })).toBe("lines[0].colour: unknown field");
    expect(decodeError(createV1, { body: JSON.stringify({ cardTokn: "t" }) })).toBe("cardTokn: unknown field");
    expect(decodeError(createV1, { query: "x=1" })).toMatch(/^x: unknown query parameter/);
    expect(decodeError(listV1, { query: "page_size=abc" })).toMatch(/^page_size: expected number/);
    expect(decodeError(listV1, { query: "status=NOPE" })).toMatch(/^status: /);
    expect(decodeError(listV1, { query: "colour=red" })).toBe("colour: unknown query parameter");
    expect(decodeError(listV1, { query: "page_size=1&page_size=2" })).toBe("page_size: given more than once");
  });

  it("when a response is encoded, then defaults are present and enums are names", () => {
    const watch = route("GET", "/api/v1/orders/x:watch");
    const json = encodeResponse(watch, create(WatchOrderResponseSchema, { order: { orderId: "o", status: OrderStatusV1.CONFIRMED } }));

    expect(json).toMatchObject({ order: { orderId: "o", status: "ORDER_STATUS_CONFIRMED", paymentId: "", lines: [] } });
  });
});
