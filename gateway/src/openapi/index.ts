/**
 * `/openapi.json` (the document built from the REST route table), `/docs` (Swagger UI from swagger-ui-dist) and
 * `/docs/versioning.md` (the version policy the deprecation Link points to).
 */
import { writeHead } from "../node-http.js";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { repoRoot, type GatewayConfig } from "../config.js";
import { httpError, writeErrorEnvelope } from "../errors.js";
import { pathOf, type HttpHandler } from "../http-handler.js";
import { requestContext } from "../request-context.js";
import { apiRouteTable } from "../rest/index.js";
import { VERSIONING_DOC_PATH, versionPolicyOf } from "../rest/versions.js";
import { buildOpenApiDocument, canonicalJson } from "./document.js";

/** ROOT is the repository root (package.json, docs/), from the sources and from dist/gateway/main.js alike. */
const ROOT = repoRoot(import.meta.url);

/** OpenApiDeps is what the handler needs of the gateway's GatewayDeps. */
export interface OpenApiDeps {
  readonly config: Readonly<GatewayConfig>;
}

/** openApiJson is the canonical document text for a config: what `/openapi.json` serves and `npm run openapi` writes. */
export function openApiJson(config: Pick<GatewayConfig, "v1DeprecatedAt" | "v1Sunset">): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
  return canonicalJson(buildOpenApiDocument(apiRouteTable(), { version: pkg.version, policy: versionPolicyOf(config) }));
}

/** SWAGGER_FILES are the swagger-ui-dist files /docs serves, with their content types; nothing else is reachable. */
const SWAGGER_FILES: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "index.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
  "favicon-16x16.png": "image/png",
};

const DOCS_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>shopmesh API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
    <link rel="stylesheet" href="/docs/index.css" />
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/swagger-ui-standalone-preset.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// A file rather than an inline script, so a strict Content-Security-Policy (script-src 'self') still works.
const INIT_JS = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
});
`;

/** createOpenApiHandler serves the document, the viewer and the versioning policy. */
export function createOpenApiHandler(deps: OpenApiDeps): HttpHandler {
  const document = openApiJson(deps.config);
  const swaggerDir = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  const cache = new Map<string, Buffer>();
  const fileOf = (name: string) => {
    let body = cache.get(name);
    if (!body) {
      body = readFileSync(name === VERSIONING_DOC_PATH ? path.join(ROOT, "docs", "versioning.md") : path.join(swaggerDir, name));
      cache.set(name, body);
    }
    return body;
  };
  return async (req, res) => {
    const urlPath = pathOf(req);
    let body: string | Buffer;
    let type: string;
    if (urlPath === "/openapi.json") [body, type] = [document, "application/json; charset=utf-8"];
    else if (urlPath === "/docs" || urlPath === "/docs/") [body, type] = [DOCS_HTML, "text/html; charset=utf-8"];
    else if (urlPath === "/docs/init.js") [body, type] = [INIT_JS, "text/javascript; charset=utf-8"];
    else if (urlPath === VERSIONING_DOC_PATH) [body, type] = [fileOf(VERSIONING_DOC_PATH), "text/markdown; charset=utf-8"];
    else if (urlPath.startsWith("/docs/") && SWAGGER_FILES[urlPath.slice(6)]) {
      const name = urlPath.slice(6);
      [body, type] = [fileOf(name), SWAGGER_FILES[name] ?? "application/octet-stream"];
    } else if (urlPath.startsWith("/docs/")) {
      writeErrorEnvelope(res, new ConnectError(`no such documentation file ${urlPath}`, Code.NotFound), requestContext(req).traceId);
      return true;
    } else return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      const error = httpError(405, Code.Unimplemented, `method ${req.method ?? ""} is not allowed on ${urlPath}`);
      writeErrorEnvelope(res, error, requestContext(req).traceId);
      return true;
    }
    writeHead(res, 200, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-cache" });
    if (req.method === "HEAD") res.end();
    else res.end(body);
    return true;
  };
}
