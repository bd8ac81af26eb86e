/**
 * Server reflection (grpc.reflection.v1 and v1alpha) as one Connect ServiceImpl, so `grpcurl list`, `describe` and
 * calls work with no proto files on every service (registered on grpc-js through the adapter) and on the gateway
 * (registered on connect-node). It answers from the protobuf-es descriptors already embedded in gen/
 * (`DescFile.proto`), so it cannot drift from what is actually served.
 *
 * Why not @grpc/reflection: it serves grpc-js only (its request handler is not exported, and it speaks proto-loader's
 * shapes), so it cannot serve the gateway; and 1.0.x leaves option-only imports (google/api/annotations.proto) out of
 * a file's dependencies (grpc/grpc-node#2595), which strict clients such as grpcurl reject. No package serves
 * reflection on a Connect router.
 * Protocol: https://github.com/grpc/grpc/blob/master/doc/server-reflection.md
 */
import { fromBinary, toBinary, type DescExtension, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { Code } from "@connectrpc/connect";
import {
  ServerReflection as ServerReflectionV1,
  ServerReflectionRequestSchema as RequestV1Schema,
  ServerReflectionResponseSchema as ResponseV1Schema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "#gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1Alpha,
  ServerReflectionRequestSchema as RequestV1AlphaSchema,
  ServerReflectionResponseSchema as ResponseV1AlphaSchema,
} from "#gen/grpc/reflection/v1alpha/reflection_pb.js";
import { implement, type ServiceRegistration } from "./registration.js";

/** REFLECTION_SERVICES are the two reflection versions; clients try v1 first and fall back to v1alpha. */
export const REFLECTION_SERVICES: readonly DescService[] = [ServerReflectionV1, ServerReflectionV1Alpha];

/** DescriptorIndex finds a file by name, by the symbols it declares and by the extensions it defines. */
class DescriptorIndex {
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

  /**
   * withDependencies serializes a file and, after it, every file it imports transitively (declared imports, options
   * included), each once, so a client can build the file without asking again.
   */
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

type Answer = ServerReflectionResponse["messageResponse"];

/** answer is the reflection response to one request (v1 shapes). */
function answer(index: DescriptorIndex, req: ServerReflectionRequest): Answer {
  const files = (file: DescFile | undefined, what: string): Answer =>
    file
      ? {
          case: "fileDescriptorResponse",
          value: { $typeName: "grpc.reflection.v1.FileDescriptorResponse", fileDescriptorProto: index.withDependencies(file) },
        }
      : error(Code.NotFound, `${what} not found`);
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
      if (!index.bySymbol(typeName)) return error(Code.NotFound, `type "${typeName}" not found`);
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
      return error(Code.InvalidArgument, "empty reflection request");
  }
}

function error(errorCode: Code, errorMessage: string): Answer {
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
 * reflectionServices implements both reflection versions for the given services (and the files they import); the
 * reflection services list themselves too, as grpc-go's do. v1alpha is the same wire format as v1 (same field
 * numbers), so its messages are re-read as v1 and answered by the same code. Serve the result with
 * `createGrpcServer`/`addService` or Connect's `router.service`.
 */
export function reflectionServices(services: readonly DescService[]): ServiceRegistration[] {
  const index = new DescriptorIndex([...services, ...REFLECTION_SERVICES]);
  return [
    implement(ServerReflectionV1, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield respond(index, req);
      },
    }),
    implement(ServerReflectionV1Alpha, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          const v1 = fromBinary(RequestV1Schema, toBinary(RequestV1AlphaSchema, req));
          yield fromBinary(ResponseV1AlphaSchema, toBinary(ResponseV1Schema, respond(index, v1)));
        }
      },
    }),
  ];
}
