// Lint rules that keep the layers one-way (docs/architecture.md §1): each folder of src names what it may not
// import, so a dependency that runs the wrong way fails `npm test` (test/lint-boundaries.test.ts shows each rule biting).
import tseslint from "typescript-eslint";

/** One forbidden group of import paths (gitignore patterns), with the sentence that says where to go instead. */
const forbid = (group, message, allowTypeImports = false) => ({ group, message, allowTypeImports });

const noScripts = forbid(["**/scripts/*", "**/scripts/**"], "src must not import scripts/: the CLI calls services, never the other way round.");
const noDataInDb = forbid(["**/data/*", "**/data/**"], "src/db must not import src/data: shapes both need live in src/dataset-shapes.ts.");
const noApi = forbid(["**/graphql/*", "**/graphql/**"], "Only the server wiring reaches src/graphql; services and below must not import the API.");
const noServices = forbid(["**/services/*", "**/services/**"], "Layers below src/services must not import a service.");
const noDb = forbid(["**/db/*", "**/db/**"], "This layer must not reach the database; its callers pass it data.");
const noEngine = forbid(["**/engine/*", "**/engine/**"], "src/data must not import the engine.");
const noDbValues = forbid(["**/db/*", "**/db/**"], "Reach the database through a service (src/services); SQL lives only in src/db.", true);
const resolverDbMessage = "Resolvers reach data through a service (src/services/catalog-service.ts and others); from src/db they may name entity types only.";
// Regexes, not groups: a group cannot re-include entities, and a type-allowing pattern that matches lets every type import through.
const noDbButEntities = { regex: "(^|/)db/(?!entities/)", message: resolverDbMessage };
const noEntityValues = { regex: "(^|/)db/entities/", message: resolverDbMessage, allowTypeImports: true };

// Which database it is stays inside src/db: callers ask it what they need to know (readsCrossASocket, checkpointsLiveInDatabase).
const noDialect = { group: ["**/db/data-source.ts"], importNames: ["dialectOfSource"], message: "Ask src/db what you need to know (e.g. readsCrossASocket) instead of which database it is." };

const noChildProcessMessage = "Run background work as a job of src/services/job-queue.ts (a JobRunner and a worker module under src/services); no other module starts a process.";
// The models see the runtime only through its index (kernels, the addon, wasm assembly and Dawn stay behind it).
const noRuntimeInternals = { regex: "(^|/)runtime/(?!index\\.ts$)", message: "src/engine/models reaches the runtime only through src/engine/runtime/index.ts; export what a model needs there." };

const restrict = (...patterns) => ({ "@typescript-eslint/no-restricted-imports": ["error", { patterns }] });

export default tseslint.config(
  { ignores: ["node_modules/**", "native/**", "data/**", "schema/**"] },
  {
    files: ["**/*.ts"],
    languageOptions: { parser: tseslint.parser },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {},
  },
  // A later block replaces an earlier one's rule for the files both match, so each lists every group that applies.
  { files: ["src/**/*.ts"], rules: restrict(noScripts, noDialect) },
  { files: ["src/data/**/*.ts"], rules: restrict(noScripts, noDb, noApi, noServices, noEngine) },
  { files: ["src/db/**/*.ts"], rules: restrict(noScripts, noDataInDb, noApi, noServices) },
  { files: ["src/engine/**/*.ts"], rules: restrict(noScripts, noDb, noApi, noServices) },
  { files: ["src/engine/models/**/*.ts"], rules: restrict(noScripts, noDb, noApi, noServices, noRuntimeInternals) },
  { files: ["src/services/**/*.ts"], rules: restrict(noScripts, noApi, noDialect) },
  { files: ["src/graphql/**/*.ts"], rules: restrict(noScripts, noDbValues) },
  { files: ["src/graphql/resolvers/**/*.ts"], rules: restrict(noScripts, noDbButEntities, noEntityValues) },
  // Its own rule, so the layer blocks above do not replace it: background work is a job of the job queue, the one place that starts a process.
  {
    files: ["src/**/*.ts"],
    ignores: ["src/services/job-queue.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: ["child_process", "node:child_process"].map((name) => ({ name, message: noChildProcessMessage })) }],
    },
  },
);
