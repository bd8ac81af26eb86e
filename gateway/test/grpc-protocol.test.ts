/**
 * The gateway speaking each RPC protocol correctly where a typed client never goes: malformed protobuf is the
 * caller's fault (INVALID_ARGUMENT, never INTERNAL), and an unknown method is UNIMPLEMENTED in the caller's protocol.
 * No backend is needed: both are answered before anything is forwarded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
