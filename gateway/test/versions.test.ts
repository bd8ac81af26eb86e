/**
 * API versions: /api/v1 and /api/v2 side by side, Accept negotiation for unversioned /api/... (406 for unknown
 * versions), and the deprecation headers of v1 — against a real mesh + gateway, plus the pure negotiation rules.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProduct, uniqueId } from "../../test/system/fixtures.js";
import { checkAcceptForVersion, datesOf, deprecationHeaders, negotiateVersion, versionPolicyOf } from "../src/rest/versions.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";
import { call, expectEnvelope } from "./support/rest-client.js";

const V1 = "application/vnd.shop.v1+json";
const V2 = "application/vnd.shop.v2+json";

describe("version negotiation rules", () => {
  const served = ["v1", "v2"];

  it("when Accept names no shop version, then the newest version answers as plain JSON", () => {
    for (const accept of [undefined, "", "*/*", "application/*", "application/json", "text/event-stream", "text/html, */*;q=0.8"]) {
      expect(negotiateVersion(accept, served)).toEqual({ version: "v2", contentType: "application/json" });
    }
  });

  it("when Accept names shop versions with q-values, then the best served one wins", () => {
    expect(negotiateVersion(V1, served)).toEqual({ version: "v1", contentType: V1 });
    expect(negotiateVersion(`${V1};q=0.5, ${V2}`, served)).toMatchObject({ version: "v2" });
    expect(negotiateVersion(`${V1}, ${V2};q=0.1`, served)).toMatchObject({ version: "v1" });
    expect(negotiateVersion("application/vnd.shop.v9+json, application/vnd.shop.v1+json;q=0.2", served)).toMatchObject({ version: "v1" });
  });

  it("when Accept names only unknown shop versions, then it is a 406", () => {
    const result = negotiateVersion("application/vnd.shop.v3+json", served);

    expect(result).toBeInstanceOf(Error);
    expect((result as { httpStatus: number }).httpStatus).toBe(406);
  });

  it("when Accept names only media types the API never answers with, then it is a 406 naming them, versioned or not", () => {
    for (const accept of ["text/html", "application/xml", "image/png, text/plain", "text/*", "application/json;q=0"]) {
      const unversioned = negotiateVersion(accept, served);
      const versioned = checkAcceptForVersion(accept, "v2");

      expect(unversioned).toBeInstanceOf(Error);
      expect((unversioned as { httpStatus: number }).httpStatus).toBe(406);
      expect((versioned as { httpStatus: number } | undefined)?.httpStatus).toBe(406);
      expect(versioned?.message).toContain(accept.split(/[,;]/)[0]);
    }
    for (const accept of [undefined, "*/*", "application/json", "text/event-stream", V2, "text/html, application/json;q=0.1"]) {
      expect(checkAcceptForVersion(accept, "v2")).toBeUndefined();
    }
  });

  it("when the dates come from the config, then Deprecation is @seconds and Sunset the end of the day as an HTTP-date", () => {
    const policy = versionPolicyOf({ v1DeprecatedAt: "2027-01-15", v1Sunset: "2028-01-31" });

    const headers = deprecationHeaders(policy.get("v1")!, "/api/v2/orders/o-1");

    expect(headers["deprecation"]).toBe(`@${Date.UTC(2027, 0, 15) / 1000}`);
    expect(headers["sunset"]).toBe("Mon, 31 Jan 2028 23:59:59 GMT");
    expect(headers["link"]).toContain('</api/v2/orders/o-1>; rel="successor-version"');
    expect(headers["link"]).toContain('rel="deprecation"');
    expect(() => datesOf("2027-06-30", "2027-01-01")).toThrow(/after/);
    expect(() => datesOf("soon", "2027-01-01")).toThrow(/YYYY-MM-DD/);
  });
});

describe("versions over HTTP", () => {
  let gm: GatewayMesh;
  let token: string;
  let orderId: string;
  let productId: string;

  beforeAll(async () => {
    gm = await startGatewayMesh();
    token = await gm.token();
    productId = await createProduct(gm.mesh!, 100);
    const created = await call(gm.baseUrl, "POST", "/api/v2/orders", {
      body: { customerId: uniqueId("cust"), items: [{ productId, quantity: 1 }], payment: { cardToken: "tok_visa" } },
      token,
    });
    orderId = created.body.order.orderId;
  });

  afterAll(async () => {
    await gm?.stop();
  });

  it("when an unversioned path has no shop Accept, then v2 answers with Vary: Accept and no deprecation", async () => {
    const answer = await call(gm.baseUrl, "GET", `/api/orders/${orderId}`, { token });

    expect(answer.status).toBe(200);
    expect(answer.body.order.state).toBeDefined();
    expect(answer.body.order.lines).toBeUndefined();
    expect(answer.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(answer.headers.get("vary")).toMatch(/Accept/);
    expect(answer.headers.get("deprecation")).toBeNull();
  });

  it("when an unversioned path asks for v1, then v1 answers in its media type with the deprecation headers", async () => {
    const answer = await call(gm.baseUrl, "GET", `/api/orders/${orderId}`, { headers: { accept: V1 }, token });

    expect(answer.status).toBe(200);
    expect(answer.body.order.lines).toHaveLength(1);
    expect(answer.headers.get("content-type")).toBe(`${V1}; charset=utf-8`);
    expect(answer.headers.get("deprecation")).toMatch(/^@\d+$/);
    expect(answer.headers.get("sunset")).toBe("Wed, 30 Jun 2027 23:59:59 GMT");
    expect(answer.headers.get("link")).toContain(`</api/v2/orders/${orderId}>; rel="successor-version"`);
  });

  it("when an unversioned path asks for v2, then v2 answers in its media type", async () => {
    const answer = await call(gm.baseUrl, "GET", `/api/orders/${orderId}`, { headers: { accept: V2 }, token });

    expect(answer.body.order.state).toBeDefined();
    expect(answer.headers.get("content-type")).toBe(`${V2}; charset=utf-8`);
  });

  it("when an unknown version is asked for, then 406; an unknown version in the path is 404", async () => {
    const byAccept = await call(gm.baseUrl, "GET", `/api/orders/${orderId}`, { headers: { accept: "application/vnd.shop.v3+json" } });
    const byPath = await call(gm.baseUrl, "GET", `/api/v3/orders/${orderId}`);
    const mismatch = await call(gm.baseUrl, "GET", `/api/v2/orders/${orderId}`, { headers: { accept: V1 } });

    expectEnvelope(byAccept, 406, "INVALID_ARGUMENT", /vnd\.shop\.v3/);
    expectEnvelope(byPath, 404, "NOT_FOUND", /v3/);
    expectEnvelope(mismatch, 406, "INVALID_ARGUMENT");
  });

  it("when v1 and v2 are called side by side, then both serve the same order in their own shapes", async () => {
    const v1 = await call(gm.baseUrl, "GET", `/api/v1/orders/${orderId}`, { token });
    const v2 = await call(gm.baseUrl, "GET", `/api/v2/orders/${orderId}`, { token });

    expect(v1.body.order.orderId).toBe(orderId);
    expect(v2.body.order.orderId).toBe(orderId);
    expect(v1.body.order.lines[0].productId).toBe(productId);
    expect(v2.body.order.items[0].productId).toBe(productId);
    expect(v1.headers.get("deprecation")).not.toBeNull();
    expect(v2.headers.get("deprecation")).toBeNull();
  });

  it("when a resource exists only in v1, then the unversioned path still reaches it unless v2 is demanded", async () => {
    const products = await call(gm.baseUrl, "GET", `/api/products/${productId}`);
    const demanded = await call(gm.baseUrl, "GET", `/api/products/${productId}`, { headers: { accept: V2 } });

    expect(products.status).toBe(200);
    expect(products.body.product.productId).toBe(productId);
    expect(products.headers.get("deprecation")).toBeNull();
    expectEnvelope(demanded, 404, "NOT_FOUND");
  });

  it("when an unversioned create asks for v1, then it is created through v1 with a v1 Location", async () => {
    const answer = await call(gm.baseUrl, "POST", "/api/orders", {
      body: { customerId: uniqueId("cust"), lines: [{ productId, quantity: 1 }], cardToken: "tok_visa" },
      headers: { accept: V1 },
      token,
    });

    expect(answer.status).toBe(201);
    expect(answer.headers.get("location")).toBe(`/api/v1/orders/${answer.body.order.orderId}`);
  });
});
