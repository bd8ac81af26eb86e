/** runHttpLoad runs bench/load/http-load.ts as a pinned child process and parses its one-line JSON result. */
import type { HttpLoadSpec } from "../load/http-load.js";
import type { LoadResult } from "./ghz.js";
import { MeshChild } from "../../scripts/mesh/child.js";

export type { HttpLoadSpec };

/** runHttpLoad: see the file comment; errors (non-2xx, resets) are counted, not thrown. */
export async function runHttpLoad(spec: HttpLoadSpec, cpus: string | undefined): Promise<LoadResult> {
  const child = MeshChild.node("bench/load/http-load.ts", { name: "http-load", cpus, args: [JSON.stringify(spec)] });
  let stdout = "";
  child.child.stdout?.on("data", (chunk: string) => (stdout += chunk));
  const { code } = await child.waitForExit();
  if (code !== 0) throw new Error(`http-load exited with ${code}:\n${child.tail()}`);
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as LoadResult;
}
