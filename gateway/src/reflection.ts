/**
 * Server reflection (grpc.reflection.v1 and v1alpha) for the gateway, so `grpcurl -plaintext <gateway> list`,
 * `describe` and calls work with no proto files. It is hand-written because no library serves reflection on a
 * Connect router (@grpc/reflection is bound to grpc-js servers); it answers from the protobuf-es descriptors the
 * gateway already embeds (`DescFile.proto`), so it cannot drift from what is actually served.
 * Protocol: https://github.com/grpc/grpc/blob/master/doc/server-reflection.md
 */
import { fromBinary, toBinary, type DescExtension, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  ServerReflection as ServerReflectionV1,
  ServerReflectionRequestSchema as RequestV1Schema,
  ServerReflectionResponseSchema as ResponseV1Schema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1Alpha,
  ServerReflectionRequestSchema as RequestV1AlphaSchema,
  ServerReflectionResponseSchema as ResponseV1AlphaSchema,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** REFLECTION_SERVICES are the two reflection versions; clients try v1 first and fall back to v1alpha. */
export const REFLECTION_SERVICES: readonly DescService[] = [ServerReflectionV1, ServerReflectionV1Alpha];

/** NOT_FOUND is grpc.StatusCode NOT_FOUND, the ErrorResponse code for an unknown file or symbol. */
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

/** DescriptorIndex finds a file by name, by the symbols it declares and by the extensions it defines. */
export class DescriptorIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly extensions = new Map<string, DescExtension[]>();

  constructor(readonly services: readonly DescService[]) {
    for (const service of services) this.add(service.file);
  }

  private add(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    for (const dep of file.dependencies) this.add(dep);
    for (const type of nestedTypes(file)) {
      this.symbols.set(type.typeName, file);
      if (type.kind === "service") for (const method of type.methods) this.symbols.set(`${type.typeName}.${method.name}`, file);
      if (type.kind === "extension") {
        const list = this.extensions.get(type.extendee.typeName) ?? [];
        list.push(type);
        this.extensions.set(type.extendee.typeName, list);
      }
    }
  }

  /** byName is the file with that path, e.g. `shop/order/v1/order_service.proto`. */
  byName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  /** bySymbol is the file declaring a fully-qualified service, method, message, enum or extension. */
  bySymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol.replace(/^\./, ""));
  }

  /** extensionsOf lists the extensions of a message type, e.g. google.protobuf.MethodOptions → google.api.http. */
  extensionsOf(typeName: string): readonly DescExtension[] {
    return this.extensions.get(typeName) ?? [];
  }

  /** withDependencies serializes a file and, after it, every file it imports transitively, each once. */
  withDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return out;
  }
}

/** answer is the reflection response to one request (v1 shapes). */
export function answer(index: DescriptorIndex, req: ServerReflectionRequest): ServerReflectionResponse["messageResponse"] {
  const files = (file: DescFile | undefined, what: string): ServerReflectionResponse["messageResponse"] =>
    file
      ? { case: "fileDescriptorResponse", value: { $typeName: "grpc.reflection.v1.FileDescriptorResponse", fileDescriptorProto: index.withDependencies(file) } }
      : error(NOT_FOUND, `${what} not found`);
  const request = req.messageRequest;
  switch (request.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: {
          $typeName: "grpc.reflection.v1.ListServiceResponse",
          service: index.services.map((s) => ({ $typeName: "grpc.reflection.v1.ServiceResponse", name: s.typeName })),
        },
      };
    case "fileByFilename":
      return files(index.byName(request.value), `file "${request.value}"`);
    case "fileContainingSymbol":
      return files(index.bySymbol(request.value), `symbol "${request.value}"`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = request.value;
      const ext = index.extensionsOf(containingType).find((e) => e.number === extensionNumber);
      return files(ext?.file, `extension ${extensionNumber} of "${containingType}"`);
    }
    case "allExtensionNumbersOfType": {
      const typeName = request.value.replace(/^\./, "");
      if (!index.bySymbol(typeName)) return error(NOT_FOUND, `type "${typeName}" not found`);
      return {
        case: "allExtensionNumbersResponse",
        value: {
          $typeName: "grpc.reflection.v1.ExtensionNumberResponse",
          baseTypeName: typeName,
          extensionNumber: index.extensionsOf(typeName).map((e) => e.number),
        },
      };
    }
    default:
      return error(INVALID_ARGUMENT, "empty reflection request");
  }
}

function error(errorCode: number, errorMessage: string): ServerReflectionResponse["messageResponse"] {
  return { case: "errorResponse", value: { $typeName: "grpc.reflection.v1.ErrorResponse", errorCode, errorMessage } };
}

function respond(index: DescriptorIndex, req: ServerReflectionRequest): ServerReflectionResponse {
  return {
    $typeName: "grpc.reflection.v1.ServerReflectionResponse",
    validHost: req.host,
    originalRequest: req,
    messageResponse: answer(index, req),
  };
}

/**
 * reflectionRoutes registers both reflection versions on a Connect router for the given services (and the
 * descriptors they import). v1alpha is the same wire format as v1 (same field numbers), so its messages are
 * re-read as v1 and answered by the same code.
 */
export function reflectionRoutes(router: ConnectRouter, services: readonly DescService[]): void {
  const index = new DescriptorIndex([...services, ...REFLECTION_SERVICES]);
  router.service(ServerReflectionV1, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield respond(index, req);
    },
  });
  router.service(ServerReflectionV1Alpha, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) {
        const v1 = fromBinary(RequestV1Schema, toBinary(RequestV1AlphaSchema, req));
        yield fromBinary(ResponseV1AlphaSchema, toBinary(ResponseV1Schema, respond(index, v1)));
      }
    },
  });
}
