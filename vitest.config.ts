import { defineConfig } from "vitest/config";

// One suite for unit, in-process and system tests. System tests talk to a real
// Kafka broker found (or started) by test/global-setup.ts.
export default defineConfig({
  test: {
    include: [
      "services/**/test/**/*.test.ts",
      "gateway/test/**/*.test.ts",
      "test/**/*.test.ts",
      "scripts/test/**/*.test.ts",
      "labs/test/**/*.test.ts",
    ],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two cores: system tests start processes and a broker; running files one
    // at a time keeps ports, broker load and timings predictable.
    fileParallelism: false,
    reporters: ["default"],
  },
});
