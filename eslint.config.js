// Lint rules that keep the layers one-way (docs/architecture.md §1): the API and the engine reach data only through
// services, so src/graphql and src/engine may import no value from src/db (entity types stay allowed).
import tseslint from "typescript-eslint";

const noDbValues = {
  "@typescript-eslint/no-restricted-imports": [
    "error",
    { patterns: [{ group: ["**/db/*", "**/db/**"], allowTypeImports: true, message: "Reach the database through a service (src/services); SQL lives only in src/db." }] },
  ],
};

export default tseslint.config(
  { ignores: ["node_modules/**", "native/**", "data/**", "schema/**"] },
  {
    files: ["**/*.ts"],
    languageOptions: { parser: tseslint.parser },
    plugins: { "@typescript-eslint": tseslint.plugin },
    rules: {},
  },
  { files: ["src/graphql/**/*.ts", "src/engine/**/*.ts"], rules: noDbValues },
);
