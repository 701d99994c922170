import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

/**
 * The suites that run a second time on PostgreSQL (test/db/databases.ts gives them a fresh database
 * per fixture): storage, ingest, training jobs and the API. The others are dialect-free (engine,
 * parsers) or test SQLite's own behaviour (busy locks, WAL, data_version).
 */
const POSTGRES_SUITES = [
  "test/db/load-dataset-matrices.test.ts",
  "test/db/trained-model.test.ts",
  "test/data/ingest.test.ts",
  "test/services/metadata.test.ts",
  "test/services/training.test.ts",
  "test/services/replaced-dataset.test.ts",
  "test/services/dataset-index.test.ts",
  "test/graphql/browse.test.ts",
  "test/graphql/prediction.test.ts",
  "test/graphql/training-jobs.test.ts",
  "test/graphql/errors-limits.test.ts",
  "test/graphql/http.test.ts",
  "test/graphql/hostile-documents.test.ts",
  "test/cli/model-commands.test.ts",
  "test/graphql/experiment-jobs.test.ts",
  "test/cli/sharded-export.test.ts",
  "test/cli/sharded-evaluation.test.ts",
  "test/services/append.test.ts",
  "test/db/dataset-versions.test.ts",
  "test/graphql/fold-in.test.ts",
  "test/graphql/what-if.test.ts",
  "test/services/dataset-follow.test.ts",
  "test/cli/append.test.ts",
  "test/cli/warm-start.test.ts",
  "test/services/model-aliases.test.ts",
  "test/graphql/dashboard-api.test.ts",
];

const postgresUrl = process.env.VCM_TEST_POSTGRES_URL ?? "";
if (!postgresUrl) console.warn("The PostgreSQL suites are skipped: set VCM_TEST_POSTGRES_URL (bash scripts/ci/postgres.sh start DIR prints one).");

export default defineConfig({
  resolve: {
    // Node resolves "graphql" to its CommonJS entry for type-graphql and Apollo; Vite would pick the .mjs
    // build for our sources, and two graphql instances reject each other's schema ("another module or realm").
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    // Engine and API tests train real (small) models on 2 cores; the defaults are too short.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // One file at a time per core keeps wasm training tests from starving each other.
    fileParallelism: true,
    maxWorkers: 2,
    pool: "forks",
    projects: [
      { extends: true as const, test: { name: "sqlite", include: ["test/**/*.test.ts"], env: { VCM_TEST_DIALECT: "sqlite" } } },
      ...(postgresUrl ? [{ extends: true as const, test: { name: "postgres", include: POSTGRES_SUITES, env: { VCM_TEST_DIALECT: "postgres" } } }] : []),
    ],
  },
});
