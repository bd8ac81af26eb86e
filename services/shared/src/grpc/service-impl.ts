import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "./handler-context.js";

/** Response is what a handler may produce: a message, or its init shape (plain object) which the adapter completes. */
export type Response<O extends DescMessage> = MessageShape<O> | MessageInitShape<O>;

/** UnaryImpl answers one request with one response. */
export type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: HandlerContext,
) => Promise<Response<O>> | Response<O>;

/** ServerStreamingImpl is an async generator: each `yield` sends one response message. */
export type ServerStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: HandlerContext,
) => AsyncIterable<Response<O>>;

/** ClientStreamingImpl reads every request with `for await` and answers once. */
export type ClientStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: HandlerContext,
) => Promise<Response<O>>;

/** BidiStreamingImpl reads requests and yields responses, in any order and at any pace. */
export type BidiStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: HandlerContext,
) => AsyncIterable<Response<O>>;

type Kind<M, K extends DescMethod["methodKind"]> = M extends { methodKind: K } ? true : false;

/** MethodImpl is the handler type of one RPC, chosen by its method kind (as connect-es `MethodImpl` does). */
export type MethodImpl<M extends DescMethod> = M extends {
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? Kind<M, "unary"> extends true
    ? UnaryImpl<I, O>
    : Kind<M, "server_streaming"> extends true
      ? ServerStreamingImpl<I, O>
      : Kind<M, "client_streaming"> extends true
        ? ClientStreamingImpl<I, O>
        : BidiStreamingImpl<I, O>
  : never;

/**
 * ServiceImpl is the implementation type derived from a generated service descriptor: one handler per RPC, keyed
 * by the RPC's local name (`getProduct`, `watchStock`, ...).
 */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethod ? MethodImpl<S["method"][K]> : never;
};
