import { EventEmitter } from "node:events";
import { Code, ConnectError } from "@connectrpc/connect";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { InventoryService } from "#gen/shop/inventory/v1/inventory_service_pb.js";
import { GrpcHandlerContext, peerKey, type ServerCall } from "#shared/grpc/handler-context.js";

/** fakeCall is the part of a grpc-js server call the context reads. */
function fakeCall(deadline: Date | number = Infinity, metadata = new Metadata()): ServerCall & EventEmitter {
  return Object.assign(new EventEmitter(), {
    cancelled: false,
    metadata,
    getDeadline: () => deadline,
    getPeer: () => "127.0.0.1:1",
  }) as unknown as ServerCall & EventEmitter;
}

const getProduct = InventoryService.method.getProduct;

describe("GrpcHandlerContext", () => {
  it("when a handler reads the signal before the client cancels, then it aborts with a CANCELLED ConnectError", () => {
    const call = fakeCall();
    const ctx = new GrpcHandlerContext(call, getProduct);
    const signal = ctx.signal;
    expect(signal.aborted).toBe(false);

    call.emit("cancelled");

    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(ConnectError);
    expect((signal.reason as ConnectError).code).toBe(Code.Canceled);
    expect(ctx.abortReason()).toBe(signal.reason);
  });

  it("when the signal is first read after the deadline passed, then it is already aborted with DEADLINE_EXCEEDED", () => {
    const call = fakeCall(new Date(Date.now() - 1));
    const ctx = new GrpcHandlerContext(call, getProduct);

    call.emit("cancelled");

    expect(ctx.abortReason()?.code).toBe(Code.DeadlineExceeded);
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.signal.reason).toBe(ctx.abortReason());
    expect(ctx.signal).toBe(ctx.signal); // one signal per call, however often it is read
  });

  it("when the client's cancel arrives just before the server's copy of the deadline, then it is DEADLINE_EXCEEDED; well before it, CANCELLED", () => {
    // The server's deadline starts when the request arrives, so the client's cancel at its own deadline comes first.
    const atDeadline = fakeCall(new Date(Date.now() + 20));
    const early = fakeCall(new Date(Date.now() + 5_000));
    const late = new GrpcHandlerContext(atDeadline, getProduct);
    const chosen = new GrpcHandlerContext(early, getProduct);

    atDeadline.emit("cancelled");
    early.emit("cancelled");

    expect(late.abortReason()?.code).toBe(Code.DeadlineExceeded);
    expect(chosen.abortReason()?.code).toBe(Code.Canceled);
  });

  it("when the call has a deadline, then timeoutMs counts down to it; without one it is undefined", () => {
    const withDeadline = new GrpcHandlerContext(fakeCall(Date.now() + 5_000), getProduct);
    const without = new GrpcHandlerContext(fakeCall(), getProduct);

    expect(withDeadline.timeoutMs()).toBeGreaterThan(4_000);
    expect(withDeadline.timeoutMs()).toBeLessThanOrEqual(5_000);
    expect(without.timeoutMs()).toBeUndefined();
  });

  it("when the call completes, then the listener is gone and a signal the handler read aborts, as Connect's does", () => {
    const call = fakeCall();
    const ctx = new GrpcHandlerContext(call, getProduct);
    const signal = ctx.signal;

    ctx.complete();

    expect(call.listenerCount("cancelled")).toBe(0);
    expect(signal.aborted).toBe(true);
    expect(ctx.abortReason()).toBeUndefined(); // completing is not a failure
  });

  it("when metadata arrives, then requestHeader has its text values and base64 for -bin values", () => {
    const metadata = new Metadata();
    metadata.set("idempotency-key", "key-1");
    metadata.set("x-token-bin", Buffer.from([1, 2, 3]));
    const ctx = new GrpcHandlerContext(fakeCall(Infinity, metadata), getProduct);

    expect(ctx.requestHeader.get("idempotency-key")).toBe("key-1");
    expect(Buffer.from(ctx.requestHeader.get("x-token-bin") ?? "", "base64")).toEqual(Buffer.from([1, 2, 3]));
  });

  it("when a handler sets response headers, then they become metadata without the ones gRPC owns", () => {
    const ctx = new GrpcHandlerContext(fakeCall(), getProduct);
    expect(ctx.headerMetadata()).toBeUndefined();

    ctx.responseHeader.set("x-served-by", "inventory");
    ctx.responseHeader.set("content-type", "application/grpc+json");
    ctx.responseTrailer.set("x-sig-bin", Buffer.from([9, 8]).toString("base64"));

    expect(ctx.headerMetadata()?.getMap()).toEqual({ "x-served-by": "inventory" });
    expect(ctx.trailerMetadata()?.get("x-sig-bin")).toEqual([Buffer.from([9, 8])]);
  });

  it("when read, then method, service, protocol and the peer (a context value) describe the call", () => {
    const ctx = new GrpcHandlerContext(fakeCall(), getProduct);

    expect(ctx.method).toBe(getProduct);
    expect(ctx.service).toBe(InventoryService);
    expect(ctx.protocolName).toBe("grpc");
    expect(ctx.url).toBe("/shop.inventory.v1.InventoryService/GetProduct");
    expect(ctx.values.get(peerKey)).toBe("127.0.0.1:1");
  });
});
