/**
 * `npm run openapi` writes openapi/openapi.json: the OpenAPI 3.1 document of the gateway's REST surface, built from
 * the route table (the google.api.http annotations) exactly as the gateway serves it at /openapi.json. The output
 * is canonical (sorted keys, no timestamps) and uses the default configuration (the published v1 dates), not this
 * shell's environment, so CI can regenerate it and `git diff --exit-code openapi/openapi.json`.
 *
 * `npm run openapi -- --check` writes nothing and exits 1 when the committed file is stale.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../gateway/src/config.js";
import { openApiJson } from "../gateway/src/openapi/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const target = path.join(ROOT, "openapi", "openapi.json");
const text = openApiJson(loadConfig({}));

if (process.argv.includes("--check")) {
  const committed = existsSync(target) ? readFileSync(target, "utf8") : "";
  if (committed !== text) {
    console.error(`${path.relative(ROOT, target)} is stale: run npm run openapi`);
    process.exit(1);
  }
  console.log(`${path.relative(ROOT, target)} is up to date`);
} else {
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  console.log(`wrote ${path.relative(ROOT, target)}`);
}
