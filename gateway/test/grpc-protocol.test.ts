/**
 * The gateway speaking each RPC protocol correctly where a typed client never goes: malformed protobuf is the
 * caller's fault (INVALID_ARGUMENT, never INTERNAL), and an unknown method is UNIMPLEMENTED in the caller's protocol.
 * No backend is needed: both are answered before anything is forwarded.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RequestInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { OrderService } from "#gen/shop/order/v1/order_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "#gen/grpc/health/v1/health_pb.js";
import { callGrpc, callGrpcWeb, grpcFrame, grpcStatusOf } from "./support/raw-rpc.js";
import { startGatewayMesh, type GatewayMesh } from "./support/gateway-mesh.js";

let gm: GatewayMesh;

beforeAll(async () => {
  gm = await startGatewayMesh({ withoutMesh: true });
});

afterAll(async () => {
  await gm?.stop();
});

const GET_ORDER = "/shop.order.v1.OrderService/GetOrder";

/** MALFORMED are request messages protobuf cannot decode, each broken differently. */
const MALFORMED: Record<string, number[]> = {
  "a length past the end": [0x0a, 0x05, 0x61],
  "a varint that never ends": [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  "wire type 7": [0x0f, 0x00],
  "a stray end-group tag": [0x0c],
};

describe("malformed protobuf through the gateway", () => {
  it.each(Object.entries(MALFORMED))("when a gRPC request carries %s, then INVALID_ARGUMENT (3)", async (_name, bytes) => {
    const answer = await callGrpc(gm.baseUrl, GET_ORDER, grpcFrame(Uint8Array.from(bytes)));

    expect(answer.status).toBe(200);
    expect(grpcStatusOf(answer).code).toBe("3");
  });

  it.each(Object.entries(MALFORMED))("when a gRPC-Web request carries %s, then INVALID_ARGUMENT (3)", async (_name, bytes) => {
    const answer = await callGrpcWeb(gm.baseUrl, GET_ORDER, grpcFrame(Uint8Array.from(bytes)));

    expect(answer.status).toBe(200);
    expect(grpcStatusOf(answer).code).toBe("3");
  });

  it.each(Object.entries(MALFORMED))("when a Connect binary request carries %s, then 400 invalid_argument", async (_name, bytes) => {
    const res = await fetch(`${gm.baseUrl}${GET_ORDER}`, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body: Uint8Array.from(bytes),
    });

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/^parse binary: /) });
  });

  it("when a gRPC server-stream request is malformed, then INVALID_ARGUMENT (3) too", async () => {
    const answer = await callGrpc(gm.baseUrl, "/shop.inventory.v1.InventoryService/WatchStock", grpcFrame(Uint8Array.from([0x0a, 0x05])));

    expect(grpcStatusOf(answer).code).toBe("3");
  });
});

describe("an unknown method through the gateway", () => {
  const UNKNOWN = ["/shop.order.v1.OrderService/NoSuchMethod", "/no.such.v1.Service/Method"];

  it.each(UNKNOWN)("when a gRPC caller asks for %s, then grpc-status 12 (UNIMPLEMENTED) naming it", async (path) => {
    const answer = await callGrpc(gm.baseUrl, path, grpcFrame(new Uint8Array()));

    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toMatch(/^application\/grpc/);
    expect(grpcStatusOf(answer)).toEqual({ code: "12", message: expect.stringContaining(path) });
  });

  it.each(UNKNOWN)("when a gRPC-Web caller asks for %s, then grpc-status 12 (UNIMPLEMENTED)", async (path) => {
    const answer = await callGrpcWeb(gm.baseUrl, path, grpcFrame(new Uint8Array()));

    expect(answer.status).toBe(200);
    expect(grpcStatusOf(answer).code).toBe("12");
  });
});

describe("the gateway's health with its backends down", () => {
  it("when /readyz is asked, then 503 NOT_SERVING naming each backend's failure", async () => {
    const res = await fetch(`${gm.baseUrl}/readyz`);

    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; backends: Record<string, string> };
    expect(body.status).toBe("NOT_SERVING");
    expect(Object.keys(body.backends).sort()).toEqual(["inventory", "order", "payment"]);
    for (const status of Object.values(body.backends)) expect(status).toMatch(/^UNAVAILABLE/);
  });

  it("when the liveness check /healthz is asked, then 200: the process itself is alive", async () => {
    const res = await fetch(`${gm.baseUrl}/healthz`);

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
  });

  it("when grpc.health.v1 Check asks for the overall health, then NOT_SERVING; Watch sends the same first", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: gm.baseUrl }));

    const checked = await health.check({ service: "" });
    const watched = health.watch({ service: "" }, { timeoutMs: 5_000 })[Symbol.asyncIterator]();
    const first = await watched.next();
    await watched.return?.();

    expect(checked.status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
    expect(first.value?.status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
  });

  it("when grpc.health.v1 List is asked, then the overall status and each public service's are listed", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: gm.baseUrl }));

    const { statuses } = await health.list({});

    expect(Object.keys(statuses)).toEqual(expect.arrayContaining(["", "shop.order.v1.OrderService", "shop.inventory.v1.InventoryService"]));
    expect(statuses[""]?.status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
  });
});

describe("the trace id on RPC errors", () => {
  const traceId = () => crypto.randomUUID().replaceAll("-", "");
  const traceparent = (id: string) => `00-${id}-00f067aa0ba902b7-01`;

  it("when a Connect JSON call fails, then its error body names the trace id as a google.rpc.RequestInfo detail", async () => {
    const id = traceId();

    const res = await fetch(`${gm.baseUrl}${GET_ORDER}`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: traceparent(id), authorization: `Bearer ${await gm.token()}` },
      body: JSON.stringify({ orderId: "o-1" }),
    });

    expect(res.headers.get("trace-id")).toBe(id);
    const body = (await res.json()) as { code: string; details?: { type: string; value: string; debug?: unknown }[] };
    expect(body.code).toBe("unavailable");
    const detail = body.details?.find((d) => d.type === "google.rpc.RequestInfo");
    expect(detail?.debug).toEqual({ requestId: id });
    expect(fromBinary(RequestInfoSchema, Buffer.from(detail?.value ?? "", "base64")).requestId).toBe(id);
  });

  it("when a Connect call is rejected before it runs (malformed, oversized), then the trace id is there too", async () => {
    const malformed = await fetch(`${gm.baseUrl}${GET_ORDER}`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: Uint8Array.from([0x0a, 0x05]),
    });
    const oversized = await fetch(`${gm.baseUrl}${GET_ORDER}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ orderId: "x".repeat(gm.config.bodyLimitBytes) }),
    });

    for (const res of [malformed, oversized]) {
      const body = (await res.json()) as { details?: { type: string; debug?: { requestId?: string } }[] };
      expect(body.details?.find((d) => d.type === "google.rpc.RequestInfo")?.debug?.requestId).toBe(res.headers.get("trace-id"));
    }
  });

  it("when a gRPC call fails, then the status details carry the same RequestInfo", async () => {
    const id = traceId();
    const orders = createClient(OrderService, createGrpcTransport({ baseUrl: gm.baseUrl }));

    const headers = { traceparent: traceparent(id), authorization: `Bearer ${await gm.token()}` };
    const error = await orders.getOrder({ orderId: "o-1" }, { headers }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );

    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.findDetails(RequestInfoSchema).map((d) => d.requestId)).toEqual([id]);
  });
});
