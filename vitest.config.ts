import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Engine and API tests train real (small) models on 2 cores; the defaults are too short.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // One file at a time per core keeps wasm training tests from starving each other.
    fileParallelism: true,
    maxWorkers: 2,
    pool: "forks",
  },
});
