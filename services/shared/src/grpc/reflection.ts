import { ReflectionService } from "@grpc/reflection";
import { Health } from "../../../../gen/grpc/health/v1/health_pb.js";
import { toBinary } from "@bufbuild/protobuf";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { RpcLogger } from "./rpc-logger.js";

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/**
 * fileDescriptorSet lists the files that declare the services and everything they import, transitively, each once
 * and dependencies first (google/api/annotations.proto, google/protobuf/timestamp.proto, shop/common/v1/money.proto
 * ...), so a reflection client can rebuild every type without proto files.
 */
export function fileDescriptorSet(services: readonly DescService[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    for (const dep of file.dependencies) visit(dep);
    seen.set(file.proto.name, file);
  };
  for (const service of services) visit(service.file);
  return [...seen.values()];
}

/**
 * reflectionPackageDefinition builds the proto-loader-shaped PackageDefinition @grpc/reflection reads: it only looks
 * at each entry's `fileDescriptorProtos` (serialized FileDescriptorProtos), so one entry per service carrying the
 * whole transitive file set is enough; protobuf-es's embedded descriptors (`DescFile.proto`) are exactly those.
 */
export function reflectionPackageDefinition(services: readonly DescService[]): PackageDefinition {
  const files = fileDescriptorSet(services).map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
  const definition: Record<string, unknown> = {};
  for (const service of services) {
    definition[service.typeName] = { format: "Protocol Buffer 3 FileDescriptorProto", type: {}, fileDescriptorProtos: files };
  }
  return definition as PackageDefinition;
}

/**
 * createReflectionService serves grpc.reflection.v1 and v1alpha for the given services and for grpc.health.v1, so
 * `grpcurl ... grpc.health.v1.Health/Check` works with no proto files. The health descriptor is generated from the
 * proto grpc-health-check ships (scripts/proto-deps.mjs); proto-loader's own descriptor of it has a map entry that
 * strict clients such as grpcurl reject. The reflection service itself is not listed: its clients know it by heart.
 */
export function createReflectionService(services: readonly DescService[], logger?: RpcLogger): ReflectionService {
  const described = [...services, Health];
  const reflection = new ReflectionService(reflectionPackageDefinition(described), {
    services: described.map((s) => s.typeName),
  });
  linkDeclaredImports(reflection, logger);
  return reflection;
}

interface ReflectionIndex {
  files: Record<string, { dependency?: string[] }>;
  fileDependencies: Map<object, object[]>;
}

/**
 * linkDeclaredImports makes file_containing_symbol return every imported file. @grpc/reflection 1.0.x derives a
 * file's dependencies from the types it references only (grpc/grpc-node#2595), so imports used just for options
 * (google/api/annotations.proto, field_behavior.proto) are left out and strict clients fail to build the file. This
 * adds each file's declared imports to its internal graph; if the internals ever change shape, it only warns:
 * clients can still fetch the missing files by name.
 */
function linkDeclaredImports(reflection: ReflectionService, logger?: RpcLogger): void {
  const internals = reflection as unknown as Record<"v1" | "v1Alpha", Partial<ReflectionIndex> | undefined>;
  for (const impl of [internals.v1, internals.v1Alpha]) {
    if (!impl || typeof impl.files !== "object" || !(impl.fileDependencies instanceof Map)) {
      logger?.warn({}, "grpc reflection: unexpected @grpc/reflection internals; option-only imports are served by name only");
      return;
    }
    for (const file of Object.values(impl.files)) {
      const deps = impl.fileDependencies.get(file) ?? [];
      for (const name of file.dependency ?? []) {
        const dep = impl.files[name];
        if (dep !== undefined && !deps.includes(dep)) deps.push(dep);
      }
      impl.fileDependencies.set(file, deps);
    }
  }
}
