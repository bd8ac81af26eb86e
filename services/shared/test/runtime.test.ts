// runUntilSignalled in a real process: a stop that outlasts the service's own stop budget is cut short, and the
// exit says which step was still running.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "stuck-service.ts");

describe("runUntilSignalled", () => {
  it("when a stop outlasts the service's stop budget, then the process exits 1 naming the step still running", async () => {
    // Arrange: a budget far below the runtime's 10 s default, so only the service's own budget can end it in time
    const child = spawn(process.execPath, ["--import", "tsx", fixture, "300"], { stdio: ["ignore", "pipe", "inherit"] });
    const lines: string[] = [];
    const ready = new Promise<void>((resolve) =>
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        lines.push(...chunk.split("\n").filter(Boolean));
        if (chunk.includes('"msg":"ready"')) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await ready;

    // Act
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 5_000))]);
    if (code === "still running") child.kill("SIGKILL");

    // Assert
    expect(code).toBe(1);
    const forced = lines
      .map((line) => JSON.parse(line) as { level?: number; step?: string; budgetMs?: number; msg: string })
      .find((line) => line.level === 50);
    expect(forced).toMatchObject({ step: "leave the consumer group", budgetMs: 300 });
    expect(forced?.msg).toMatch(/"leave the consumer group" was still running/);
  }, 30_000);
});
