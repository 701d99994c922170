import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Node resolves "graphql" to its CommonJS entry for type-graphql and Apollo; Vite would pick the .mjs
    // build for our sources, and two graphql instances reject each other's schema ("another module or realm").
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
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
