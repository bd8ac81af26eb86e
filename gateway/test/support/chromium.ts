/**
 * Chromium for the browser tests: the system's Debian `chromium` driven by playwright-core (no browser download;
 * `npx playwright install` cannot work offline). A missing browser fails the test with the install command, never
 * skips it, and the web UI is built fresh by the test itself so `npm test` works alone.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

const INSTALL_HINT = "install it (Debian/Ubuntu: `sudo apt-get update && sudo apt-get install -y chromium`) or set CHROMIUM_PATH";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** CHROMIUM_ARGS: headless, sandbox off (containers run as root), and nothing that phones home or updates itself. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** findChromium returns CHROMIUM_PATH or the first chromium on PATH, or throws how to install one. */
function findChromium(): string {
  const configured = process.env["CHROMIUM_PATH"];
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured} does not exist: ${INSTALL_HINT}`);
    return configured;
  }
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
    if (found) return found;
  }
  throw new Error(`no Chromium found for the browser tests: ${INSTALL_HINT}`);
}

/** launchChromium starts a headless Chromium. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
}

/**
 * buildWebUi runs the Vite build of web/ into a fresh temporary directory (so a developer's web/dist or a running
 * dev server is never touched) and returns it, for the gateway's WEB_DIR.
 */
export function buildWebUi(): string {
  const outDir = mkdtempSync(path.join(tmpdir(), "shopmesh-web-"));
  const vite = path.join(ROOT, "node_modules", "vite", "bin", "vite.js");
  try {
    execFileSync(process.execPath, [vite, "build", "web", "--outDir", outDir, "--emptyOutDir", "--logLevel", "warn"], {
      cwd: ROOT,
      stdio: "pipe",
      timeout: 120_000,
    });
  } catch (error) {
    const output = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`vite build web failed:\n${output.stdout?.toString() ?? ""}${output.stderr?.toString() ?? ""}`);
  }
  if (!existsSync(path.join(outDir, "index.html"))) throw new Error(`vite build web wrote no index.html to ${outDir}`);
  return outDir;
}
