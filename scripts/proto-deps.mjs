// proto-deps copies the few google/api protos our contracts import out of the
// `google-proto-files` npm package into the ignored .proto-deps/ folder, which
// buf.yaml lists as a second module. We copy only what we import: pointing buf at
// the whole package fails, because it ships test protos that do not compile.
// Nothing third-party is committed; this runs on postinstall and before buf.
import { cpSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const packageRoot = dirname(require.resolve("google-proto-files/package.json"));

export const protoDepFiles = [
  "google/api/annotations.proto",
  "google/api/http.proto",
  "google/api/field_behavior.proto",
];

export function copyProtoDeps(target = join(root, ".proto-deps")) {
  for (const file of protoDepFiles) {
    mkdirSync(dirname(join(target, file)), { recursive: true });
    cpSync(join(packageRoot, file), join(target, file));
  }
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  copyProtoDeps(process.argv[2]);
}
