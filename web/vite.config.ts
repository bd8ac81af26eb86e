import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const webDir = fileURLToPath(new URL(".", import.meta.url));

/**
 * The web UI's build: `npm run build:web` (`vite build web`) writes web/dist, which the gateway serves
 * (gateway/src/static.ts). `vite web` runs a dev server on 5173 that proxies the API paths to a gateway on 8080
 * (GATEWAY_URL to change it), so the UI code always talks to its own origin.
 */
const gateway = process.env["GATEWAY_URL"] ?? "http://127.0.0.1:8080";
const proxied = ["/shop.", "/api", "/auth", "/ops", "/healthz", "/livez", "/readyz", "/openapi.json", "/docs"];

export default defineConfig({
  root: webDir,
  // The generated stubs live in ../gen, outside the root: allow the dev server to read them.
  server: {
    port: 5173,
    fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] },
    proxy: Object.fromEntries(proxied.map((prefix) => [prefix, { target: gateway, changeOrigin: false }])),
  },
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
});
