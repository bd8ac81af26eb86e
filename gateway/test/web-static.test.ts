/**
 * The static web UI handler on a plain HTTP server with a fixture web/dist: content types, cache policy, the SPA
 * fallback, and no way out of the web directory.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStaticHandler } from "../src/static.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let server: Server;
let base: string;
let root: string;

/** get sends a raw request (the path is not normalised, unlike fetch, so traversal attempts reach the server). */
function get(rawPath: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${rawPath}`, { method, headers, path: rawPath }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), "shopmesh-static-"));
  const webDir = path.join(root, "dist");
  mkdirSync(path.join(webDir, "assets"), { recursive: true });
  writeFileSync(path.join(webDir, "index.html"), "<!doctype html><title>shopmesh</title>");
  writeFileSync(path.join(webDir, "assets", "index-AbCd1234.js"), "console.log('ui')");
  writeFileSync(path.join(webDir, "assets", "index-AbCd1234.css"), "body{}");
  writeFileSync(path.join(root, "secret.txt"), "outside the web dir");
  const handler = createStaticHandler(webDir);
  server = createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "NOT_FOUND" }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

describe("the static web UI", () => {
  it("when / is requested, then index.html is served as HTML and revalidated on every load", async () => {
    const answer = await get("/", { accept: "text/html" });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(answer.headers["cache-control"]).toBe("no-cache");
    expect(answer.body).toContain("<title>shopmesh</title>");
  });

  it("when a hashed asset is requested, then it has its content type and is cached as immutable", async () => {
    const js = await get("/assets/index-AbCd1234.js");
    expect(js.status).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    const css = await get("/assets/index-AbCd1234.css");
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
  });

  it("when the browser sends the ETag back, then the answer is 304 without a body", async () => {
    const first = await get("/assets/index-AbCd1234.js");
    const again = await get("/assets/index-AbCd1234.js", { "if-none-match": String(first.headers["etag"]) });
    expect(again.status).toBe(304);
    expect(again.body).toBe("");
  });

  it("when a HEAD request comes, then the headers come without the body", async () => {
    const answer = await get("/assets/index-AbCd1234.js", {}, "HEAD");
    expect(answer.status).toBe(200);
    expect(answer.headers["content-length"]).toBe(String("console.log('ui')".length));
    expect(answer.body).toBe("");
  });

  it("when a browser navigates to a client-side route, then index.html is served (SPA fallback)", async () => {
    const answer = await get("/orders/123", { accept: "text/html,application/xhtml+xml" });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain("<title>shopmesh</title>");
  });

  it.each([
    ["an API path", "/api/v1/nope", "text/html"],
    ["an RPC path", "/shop.order.v1.OrderService/Nope", "text/html"],
    ["a missing asset", "/assets/missing-12345678.js", "text/html"],
    ["a non-HTML request", "/orders/123", "application/json"],
  ])("when %s is not a file, then it is left to the 404 envelope", async (_what, rawPath, accept) => {
    const answer = await get(rawPath, { accept });
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({ code: "NOT_FOUND" });
  });

  it.each([
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/%00index.html",
    "/..\\secret.txt",
  ])("when the path %s tries to leave the web directory, then nothing outside it is served", async (rawPath) => {
    const answer = await get(rawPath, { accept: "application/json" });
    expect(answer.body).not.toContain("outside the web dir");
    expect(answer.status).toBe(404);
  });

  it("when a write method reaches it, then it is not handled", async () => {
    const answer = await get("/index.html", {}, "POST");
    expect(answer.status).toBe(404);
  });
});
