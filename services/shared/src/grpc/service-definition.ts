import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, DescService, Message } from "@bufbuild/protobuf";

/** DEFAULT_MAX_REQUEST_BYTES: 1 MiB per request message, well below grpc-js's own 4 MiB receive cap. */
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

/**
 * BadRequest is what the request deserializer returns instead of throwing. grpc-js answers INTERNAL when a
 * deserializer throws, but garbage or oversized bytes are the caller's fault: the handler wrapper sees this sentinel
 * and answers INVALID_ARGUMENT.
 */
class BadRequest {
  constructor(readonly problem: string) {}
}

/** isBadRequest tells a sentinel from a decoded request message. */
export function isBadRequest(value: unknown): value is BadRequest {
  return value instanceof BadRequest;
}

/** DefinitionOptions tune how request bytes are accepted. */
export interface DefinitionOptions {
  /** maxRequestBytes rejects larger request messages with INVALID_ARGUMENT (default {@link DEFAULT_MAX_REQUEST_BYTES}). */
  maxRequestBytes?: number;
}

/** methodPath is the HTTP/2 path of an RPC: `/<package>.<Service>/<Method>`, as the gRPC protocol spells it. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** serializeMessage encodes a message or a message init shape, so handlers and callers may return plain objects. */
export function serializeMessage(schema: DescMessage, value: unknown): Buffer {
  const bytes = toBinary(schema, create(schema, value as Message));
  // A view, not a copy: grpc-js only needs a Buffer over the same bytes.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** requestDeserializer decodes request bytes, returning a {@link BadRequest} instead of throwing. */
function requestDeserializer(schema: DescMessage, maxBytes: number): (bytes: Buffer) => Message | BadRequest {
  return (bytes) => {
    // This check answers INVALID_ARGUMENT, as the product requires for oversized messages. grpc-js's own cap
    // (grpc.max_receive_message_length, set above this limit by createGrpcServer) would answer RESOURCE_EXHAUSTED;
    // it stays as the backstop that refuses absurd sizes before they are buffered.
    if (bytes.byteLength > maxBytes) {
      return new BadRequest(`request: message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes`);
    }
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      return new BadRequest(`request: malformed protobuf: ${(err as Error).message}`);
    }
  };
}

/**
 * createServiceDefinition turns a protobuf-es service descriptor into the grpc-js ServiceDefinition the server
 * registers: one entry per RPC keyed by its proto name, with stream kinds from the descriptor and protobuf-es codecs.
 */
export function createServiceDefinition(service: DescService, options: DefinitionOptions = {}): ServiceDefinition {
  const maxBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.name] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (value: unknown) => serializeMessage(method.input, value),
      requestDeserialize: requestDeserializer(method.input, maxBytes),
      // The handler wrappers encode responses themselves (to map encoding errors once) and pass bytes through.
      responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serializeMessage(method.output, value)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.localName,
    };
  }
  return definition;
}
