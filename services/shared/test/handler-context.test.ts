import { EventEmitter } from "node:events";
import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { createHandlerContext, type ServerCall } from "../src/grpc/handler-context.js";

/** fakeCall is the part of a grpc-js server call the context reads. */
function fakeCall(deadline: Date | number = Infinity): ServerCall & EventEmitter {
  return Object.assign(new EventEmitter(), {
    cancelled: false,
    metadata: new Metadata(),
    getDeadline: () => deadline,
    getPath: () => "/shop.test.v1.TestService/Do",
    getPeer: () => "ipv4:127.0.0.1:1",
  }) as unknown as ServerCall & EventEmitter;
}

describe("createHandlerContext", () => {
  it("when a handler reads the signal before the client cancels, then it aborts with CANCELLED", () => {
    const call = fakeCall();
    const { ctx, abortReason } = createHandlerContext(call);
    const signal = ctx.signal;
    expect(signal.aborted).toBe(false);

    call.emit("cancelled");

    expect(signal.aborted).toBe(true);
    expect((signal.reason as { status: number }).status).toBe(status.CANCELLED);
    expect(abortReason()).toBe(signal.reason);
  });

  it("when the signal is first read after the deadline passed, then it is already aborted with DEADLINE_EXCEEDED", () => {
    const call = fakeCall(new Date(Date.now() - 1));
    const { ctx, abortReason } = createHandlerContext(call);

    call.emit("cancelled");

    expect((abortReason() as { status: number } | undefined)?.status).toBe(status.DEADLINE_EXCEEDED);
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.signal.reason).toBe(abortReason());
    expect(ctx.signal).toBe(ctx.signal); // one signal per call, however often it is read
  });

  it("when nothing cancels the call, then there is no abort reason and dispose stops listening", () => {
    const call = fakeCall();
    const { abortReason, dispose } = createHandlerContext(call);
    expect(abortReason()).toBeUndefined();

    dispose();

    expect(call.listenerCount("cancelled")).toBe(0);
  });
});
