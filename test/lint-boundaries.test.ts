/**
 * The layer rules of eslint.config.js bite: each forbidden direction is linted as if written in the
 * folder it is forbidden in, and the allowed neighbour beside it passes.
 */
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const RULE = "@typescript-eslint/no-restricted-imports";

/** The messages of the layer rule for one line of code placed at `filePath`. */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await new ESLint({ cwd: process.cwd() }).lintText(`${code}\n`, { filePath });
  return result!.messages.filter((message) => message.ruleId === RULE).map((message) => message.message);
}

describe("layer boundaries in the lint rules", () => {
  it.each([
    ["src/db/probe.ts", 'import type { CsrMatrix } from "../data/csr.ts";', /src\/db must not import src\/data/],
    ["src/db/probe.ts", 'import { listDatasets } from "../services/datasets.ts";', /must not import a service/],
    ["src/engine/probe.ts", 'import type { Dataset } from "../db/entities/dataset.entity.ts";', /must not reach the database/],
    ["src/engine/probe.ts", 'import { createServerDeps } from "../graphql/context.ts";', /must not import the API/],
    ["src/engine/probe.ts", 'import { listDatasets } from "../services/datasets.ts";', /must not import a service/],
    ["src/engine/models/probe.ts", 'import { nativeTopKEnabled } from "../runtime/native-kernels.ts";', /only through src\/engine\/runtime\/index.ts/],
    ["src/engine/models/vcm/probe.ts", 'import type { WebGpuAdapter } from "../../runtime/webgpu.ts";', /only through src\/engine\/runtime\/index.ts/],
    ["src/engine/models/probe.ts", 'import type { Dataset } from "../../db/entities/dataset.entity.ts";', /must not reach the database/],
    ["src/services/probe.ts", 'import { main } from "../../scripts/cli.ts";', /must not import scripts/],
    ["src/services/probe.ts", 'import { createContext } from "../graphql/context.ts";', /must not import the API/],
    ["src/services/probe.ts", 'import { dialectOfSource } from "../db/data-source.ts";', /instead of which database it is/],
    ["src/probe.ts", 'import { dialectOfSource } from "./db/data-source.ts";', /instead of which database it is/],
    ["src/data/probe.ts", 'import { trainVcm } from "../engine/train.ts";', /must not import the engine/],
    ["src/graphql/probe.ts", 'import { Catalog } from "../db/catalog.ts";', /through a service/],
    ["src/graphql/resolvers/probe.ts", 'import type { KeysetAfter } from "../../db/catalog.ts";', /entity types only/],
    ["src/graphql/resolvers/probe.ts", 'import { Item } from "../../db/entities/item.entity.ts";', /entity types only/],
  ])("%s refuses %s", async (filePath, code, message) => {
    const errors = await boundaryErrors(filePath, code);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  it.each([
    ["src/db/probe.ts", 'import type { CsrMatrix } from "../dataset-shapes.ts";'],
    ["src/graphql/probe.ts", 'import type { Catalog } from "../db/catalog.ts";'],
    ["src/graphql/resolvers/probe.ts", 'import type { Item } from "../../db/entities/item.entity.ts";'],
    ["src/graphql/resolvers/probe.ts", 'import type { KeysetAfter } from "../../services/catalog-service.ts";'],
    ["src/services/probe.ts", 'import { Catalog } from "../db/catalog.ts";'],
    ["src/services/probe.ts", 'import { readsCrossASocket } from "../db/data-source.ts";'],
    ["src/db/probe.ts", 'import { dialectOfSource } from "./data-source.ts";'],
    ["src/engine/models/probe.ts", 'import { linear, type SparseBatchTensors } from "../runtime/index.ts";'],
    ["src/engine/runtime/probe.ts", 'import { nativeTopKEnabled } from "./native-kernels.ts";'],
  ])("%s allows %s", async (filePath, code) => {
    expect(await boundaryErrors(filePath, code)).toEqual([]);
  });

  it("lets only the job queue start a process", async () => {
    const code = 'import { spawn } from "node:child_process";\n';
    const lint = async (filePath: string) => {
      const [result] = await new ESLint({ cwd: process.cwd() }).lintText(code, { filePath });
      return result!.messages.filter((message) => message.ruleId === "no-restricted-imports").map((message) => message.message);
    };
    expect(await lint("src/services/probe.ts")).toEqual([expect.stringMatching(/job-queue\.ts/)]);
    expect(await lint("src/engine/probe.ts")).toHaveLength(1);
    expect(await lint("src/services/job-queue.ts")).toEqual([]);
  });
});
