// proto-deps copies the few third-party protos we build against out of their npm
// packages into the ignored .proto-deps/ folder, which buf.yaml lists as a second
// module: the google/api annotations our contracts import and the google/rpc error details (google-proto-files),
// and grpc.health.v1 (grpc-health-check), which we generate only so that server
// reflection can describe the health service, and grpc.reflection.v1/v1alpha (@grpc/reflection), which our one
// reflection service (services/shared/src/grpc/reflection.ts) is built on. We copy only what we need: pointing
// buf at the whole google-proto-files package fails, because it ships test protos
// that do not compile. Nothing third-party is committed; this runs on postinstall
// and before buf.
import { cpSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const packageRoot = (name) => dirname(require.resolve(`${name}/package.json`));

/** protoDepFiles maps each copied file's import path to where its package keeps it. */
export const protoDepFiles = {
  "google/api/annotations.proto": join(packageRoot("google-proto-files"), "google/api/annotations.proto"),
  "google/api/http.proto": join(packageRoot("google-proto-files"), "google/api/http.proto"),
  "google/api/field_behavior.proto": join(packageRoot("google-proto-files"), "google/api/field_behavior.proto"),
  // google.rpc error details: the gateway puts the trace id on every RPC error as a RequestInfo (gateway/src/rpc-error-gate.ts).
  "google/rpc/error_details.proto": join(packageRoot("google-proto-files"), "google/rpc/error_details.proto"),
  "grpc/health/v1/health.proto": join(packageRoot("grpc-health-check"), "proto/health/v1/health.proto"),
  // Server reflection is answered by our own Connect implementation (services/shared/src/grpc/reflection.ts).
  "grpc/reflection/v1/reflection.proto": join(packageRoot("@grpc/reflection"), "build/proto/grpc/reflection/v1/reflection.proto"),
  "grpc/reflection/v1alpha/reflection.proto": join(packageRoot("@grpc/reflection"), "build/proto/grpc/reflection/v1alpha/reflection.proto"),
};

export function copyProtoDeps(target = join(root, ".proto-deps")) {
  for (const [file, source] of Object.entries(protoDepFiles)) {
    mkdirSync(dirname(join(target, file)), { recursive: true });
    cpSync(source, join(target, file));
  }
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  copyProtoDeps(process.argv[2]);
}
