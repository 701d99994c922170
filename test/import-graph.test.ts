/**
 * The import graph of the application has no circles, type-only imports included (a circle through
 * types still ties two modules into one unit a reader cannot take apart).
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import madge from "madge";
import { describe, expect, it } from "vitest";

/** Every import circle among the TypeScript files under `roots`, each as the list of files it runs through. */
async function importCircles(options: { baseDir: string; roots: ReadonlyArray<string> }): Promise<string[][]> {
  const graph = await madge([...options.roots], {
    baseDir: options.baseDir,
    fileExtensions: ["ts"],
    tsConfig: path.join(process.cwd(), "tsconfig.json"),
    detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
  });
  return graph.circular();
}

describe("the import graph", () => {
  it("has no circles in src, scripts and migrations", async () => {
    const root = process.cwd();
    const circles = await importCircles({ baseDir: root, roots: ["src", "scripts", "migrations"].map((dir) => path.join(root, dir)) });
    expect(circles).toEqual([]);
  });

  it("sees a circle that runs through type imports only", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-import-graph-"));
    try {
      await fs.writeFile(path.join(dir, "a.ts"), 'import type { B } from "./b.ts";\nexport interface A { readonly b: B }\n');
      await fs.writeFile(path.join(dir, "b.ts"), 'import type { A } from "./a.ts";\nexport interface B { readonly a: A | null }\n');
      expect(await importCircles({ baseDir: dir, roots: [dir] })).toEqual([["a.ts", "b.ts"]]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
