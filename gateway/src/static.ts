/**
 * The built web UI (web/dist, from `npm run build:web`), served from the gateway's one port so the UI and the API
 * share an origin: no CORS for the UI, and Connect calls go to `location.origin`.
 */
import { writeHead } from "./node-http.js";
import { createReadStream, type Stats } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Logger } from "pino";
import { headerOf, pathOf, type HttpHandler, type NodeRequest, type NodeResponse } from "./http-handler.js";

/** CONTENT_TYPES covers what a Vite build emits (and a few common extras); anything else is octet-stream. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
};

/**
 * HASHED_ASSET: Vite writes bundles as `assets/<name>-<hash>.<ext>`; a changed file gets a new name, so those can be
 * cached for a year. index.html (which names them) and everything else is revalidated on every load.
 */
const HASHED_ASSET = /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
const IMMUTABLE = "public, max-age=31536000, immutable";
const REVALIDATE = "no-cache";

/** API_PREFIXES are never answered with the SPA's index.html, so an API typo stays a JSON 404, not an HTML page. */
const API_PREFIXES = ["/api", "/ops", "/auth", "/openapi.json", "/docs", "/healthz", "/livez", "/readyz"];

/** StaticOptions tunes createStaticHandler. */
export interface StaticOptions {
  /** logger gets one warning when the UI is not built. */
  readonly logger?: Pick<Logger, "warn">;
}

/**
 * createStaticHandler serves files under `webDir` for GET and HEAD: exact files with their content type and cache
 * policy (ETag + 304), and index.html for any other path a browser navigates to (Accept: text/html) that is not an
 * API path — the SPA fallback. It never leaves `webDir` (decoded `..`, NUL bytes and absolute paths are refused)
 * and resolves false for everything it does not serve, so the chain's last link answers the 404 envelope.
 */
export function createStaticHandler(webDir: string, options: StaticOptions = {}): HttpHandler {
  const root = path.resolve(webDir);
  let warned = false;

  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const requested = decodePath(pathOf(req));
    if (requested === undefined) return false;
    const file = resolveInside(root, requested === "/" ? "/index.html" : requested);
    const found = file === undefined ? undefined : await fileStats(file);
    if (file && found) {
      await sendFile(req, res, file, found, HASHED_ASSET.test(requested) ? IMMUTABLE : REVALIDATE);
      return true;
    }
    if (!wantsPage(req, requested)) return false;
    const index = path.join(root, "index.html");
    const indexStats = await fileStats(index);
    if (!indexStats) {
      if (!warned) options.logger?.warn({ webDir: root }, "web UI not built: run `npm run build:web`");
      warned = true;
      return false;
    }
    await sendFile(req, res, index, indexStats, REVALIDATE);
    return true;
  };
}

/** decodePath percent-decodes a request path; undefined when malformed or when it holds a NUL or a backslash. */
function decodePath(rawPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith("/") || decoded.includes("\0") || decoded.includes("\\")) return undefined;
  return decoded;
}

/** resolveInside maps a URL path to a file under root, or undefined when it would land outside (`/../etc/passwd`). */
function resolveInside(root: string, urlPath: string): string | undefined {
  const resolved = path.resolve(root, `.${path.posix.normalize(urlPath)}`);
  return resolved.startsWith(root + path.sep) ? resolved : undefined;
}

async function fileStats(file: string): Promise<Stats | undefined> {
  try {
    const stats = await stat(file);
    return stats.isFile() ? stats : undefined;
  } catch {
    return undefined;
  }
}

/**
 * wantsPage: a browser navigation (Accept names text/html) to a path that is not an API route and does not look
 * like a file (no extension in its last segment): such a request gets index.html, so a reload on a client-side
 * route works. A missing /assets/x.js stays a 404.
 */
function wantsPage(req: NodeRequest, urlPath: string): boolean {
  if (API_PREFIXES.some((prefix) => urlPath === prefix || urlPath.startsWith(`${prefix}/`))) return false;
  // An RPC path starts with a package-qualified service name (`/shop.order.v1.OrderService/...`).
  if (urlPath.split("/")[1]?.includes(".")) return false;
  if (path.posix.extname(urlPath) !== "") return false;
  return (headerOf(req, "accept") ?? "").includes("text/html");
}

async function sendFile(req: NodeRequest, res: NodeResponse, file: string, stats: Stats, cacheControl: string): Promise<void> {
  // A weak validator from size and mtime: cheap, and enough for files that only change on a rebuild.
  const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    "content-type": CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream",
    "cache-control": cacheControl,
    etag,
    "last-modified": stats.mtime.toUTCString(),
    "x-content-type-options": "nosniff",
  };
  if (headerOf(req, "if-none-match") === etag) {
    writeHead(res, 304, headers);
    res.end();
    return;
  }
  writeHead(res, 200, { ...headers, "content-length": stats.size });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  await pipeline(createReadStream(file), res as NodeJS.WritableStream).catch(() => {
    // The client went away mid-file; nothing to answer.
  });
}
