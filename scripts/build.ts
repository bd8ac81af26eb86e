/**
 * build bundles each process's entry point into plain JavaScript (`npm run build`): dist/<name>/main.js for order,
 * payment, inventory and the gateway, ESM for Node 20, with a source map beside each. Production (`npm start`, the
 * Docker image, the benchmarks) runs these with `node --enable-source-maps`, not through tsx, whose loader costs
 * ~47 MiB of RSS per process (bench/FINDINGS.md, P6).
 *
 * Only the project's own TypeScript is bundled: every package stays external (`packages: "external"`) and is loaded
 * from node_modules at run time, so native addons (better-sqlite3), grpc-js, kafkajs and pino's transport workers
 * behave exactly as under tsx. That is also why the output directory must lie inside the repository: the bundles
 * find node_modules, and `"type": "module"` in package.json, by walking up from where they are.
 *
 *   npm run build                               # all four into dist/
 *   npx tsx scripts/build.ts --outdir .cache/x  # elsewhere (inside the repository)
 *   npx tsx scripts/build.ts inventory order    # some of them
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build as esbuild, formatMessages, stop, type Message } from "esbuild";

/** ROOT is the repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** ENTRIES maps each process name to its entry point (relative to ROOT); the bundle is `<outdir>/<name>/main.js`. */
export const ENTRIES = {
  order: "services/order/src/main.ts",
  payment: "services/payment/src/main.ts",
  inventory: "services/inventory/src/main.ts",
  notification: "services/notification/src/main.ts",
  gateway: "gateway/src/main.ts",
} as const;

/** ProcessName is one bundled process. */
export type ProcessName = keyof typeof ENTRIES;

/** DEFAULT_OUTDIR is where `npm run build` writes (git-ignored). */
export const DEFAULT_OUTDIR = path.join(ROOT, "dist");

/** BuildOptions choose where to write and what. */
export interface BuildOptions {
  /** outdir must be inside the repository (see the file comment); default dist/. */
  readonly outdir?: string;
  /** names to build; default all of ENTRIES. */
  readonly names?: readonly ProcessName[];
}

/** BuildResult says what was written. */
export interface BuildResult {
  readonly outdir: string;
  /** bundles maps each built name to the absolute path of its main.js. */
  readonly bundles: Readonly<Partial<Record<ProcessName, string>>>;
  readonly durationMs: number;
}

/** bundlePath is where the bundle of `name` lies under `outdir`. */
export function bundlePath(name: ProcessName, outdir: string = DEFAULT_OUTDIR): string {
  return path.join(outdir, name, "main.js");
}

/** build bundles the named entry points with esbuild; it rejects with esbuild's formatted errors when one fails. */
export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  const outdir = path.resolve(options.outdir ?? DEFAULT_OUTDIR);
  const relative = path.relative(ROOT, outdir);
  if (relative === "" || relative.startsWith("..") || path.isAbsolute(relative)) {
    throw new Error(`build: --outdir ${outdir} must be a directory inside ${ROOT} (the bundles load node_modules from there)`);
  }
  const names = options.names ?? (Object.keys(ENTRIES) as ProcessName[]);
  const started = performance.now();
  let metafileInputs: string[];
  try {
    const result = await esbuild({
      absWorkingDir: ROOT,
      entryPoints: names.map((name) => ({ in: ENTRIES[name], out: `${name}/main` })),
      outdir,
      bundle: true,
      // Each entry its own self-contained file: no shared chunks to keep in step between services.
      splitting: false,
      format: "esm",
      platform: "node",
      target: "node20",
      packages: "external",
      sourcemap: true,
      // Source paths in the maps and stack traces stay readable (services/order/src/…), not minified names.
      minify: false,
      keepNames: true,
      metafile: true,
      logLevel: "silent",
    });
    if (result.warnings.length) process.stderr.write(await formatted(result.warnings, "warning"));
    metafileInputs = Object.keys(result.metafile.inputs);
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors;
    if (!errors?.length) throw error;
    throw new Error(`build failed (${errors.length} error${errors.length === 1 ? "" : "s"}):\n${await formatted(errors, "error")}`);
  }
  refuseMainGuards(metafileInputs);
  const bundles = Object.fromEntries(names.map((name) => [name, bundlePath(name, outdir)]));
  return { outdir, bundles, durationMs: Math.round(performance.now() - started) };
}

/**
 * stopBuildService ends esbuild's helper process (~35 MiB) that the build leaves running for later builds; a
 * long-running caller (`npm start`) calls it once built. A later build starts a new one.
 */
export function stopBuildService(): Promise<void> {
  return stop();
}

function formatted(messages: Message[], kind: "error" | "warning"): Promise<string> {
  return formatMessages(messages, { kind, color: process.stderr.isTTY === true }).then((lines) => lines.join(""));
}

/**
 * refuseMainGuards fails the build when a bundled file runs itself "when it is the main module"
 * (`import.meta.url === pathToFileURL(process.argv[1])`, as scripts/start.ts does): in a bundle every module shares
 * the bundle's import.meta.url, so such a guard would fire inside the service.
 */
function refuseMainGuards(inputs: readonly string[]): void {
  const guarded = inputs.filter((file) => {
    const absolute = path.resolve(ROOT, file);
    return existsSync(absolute) && /import\.meta\.url\s*===\s*pathToFileURL\(process\.argv\[1\]/.test(readFileSync(absolute, "utf8"));
  });
  if (guarded.length) {
    throw new Error(
      `build failed: ${guarded.join(", ")} run${guarded.length === 1 ? "s" : ""} itself when it is the main module, which a bundle ` +
        "cannot tell apart from the service; move what the service imports out of that file",
    );
  }
}

function parseArgs(argv: readonly string[]): BuildOptions {
  let outdir: string | undefined;
  const names: ProcessName[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--outdir") outdir = argv[++i];
    else if (arg.startsWith("--outdir=")) outdir = arg.slice("--outdir=".length);
    else if (arg in ENTRIES) names.push(arg as ProcessName);
    else throw new Error(`build: unknown argument ${arg} (usage: build.ts [--outdir <dir>] [${Object.keys(ENTRIES).join("|")} …])`);
  }
  if (outdir === undefined && argv.includes("--outdir")) throw new Error("build: --outdir needs a directory");
  return { ...(outdir ? { outdir } : {}), ...(names.length ? { names } : {}) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const result = await build(parseArgs(process.argv.slice(2)));
    const list = Object.values(result.bundles).map((file) => path.relative(ROOT, file));
    process.stderr.write(`[build] ${list.join(", ")} in ${result.durationMs} ms\n`);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
