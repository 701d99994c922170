/**
 * The documentation's parameter tables and `vcm train`'s flags are derived from the engine's field tables:
 * the committed tables must equal what `npm run config-tables` writes, wherever their markers are.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BASELINE_CONFIG_FIELDS, CONFIG_FIELDS, VCM_CONFIG_FIELDS, type ConfigField } from "../../src/engine/config-fields.ts";
import { CONFIG_FLAGS, configFromFlags } from "../../scripts/commands/config-flags.ts";
import { CONFIG_TABLE_FAMILIES, findConfigTable, renderConfigTable, writeConfigTables } from "../../scripts/config-tables.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("the documentation's parameter tables", () => {
  it.each(Object.keys(CONFIG_TABLE_FAMILIES))("the %s table in README.md or docs/*.md equals the one generated from the engine's fields (run `npm run config-tables`)", (family) => {
    const found = findConfigTable({ root: ROOT, family });
    expect(found, `no file has <!-- config-table:${family} -->`).toBeDefined();
    expect(found?.text).toBe(renderConfigTable(CONFIG_TABLE_FAMILIES[family]));
  });

  it("lists every field once with its default, range and readers, e.g. latentDim's 100 and 1 to 1,000", () => {
    const vcm = renderConfigTable(VCM_CONFIG_FIELDS);
    expect(vcm).toContain("| `latentDim` | `--latent-dim` | 100 | 1 to 1,000 | vcm, vcm-se, vcm-od, vcm-nv |");
    expect(vcm).toContain("| `learningRate` | `--lr` | 0.001; deepconn: 0.002 | above 0, at most 10 |");
    expect(vcm).toContain("| `evalBatchSize` | – | 512 |");
    const baselines = renderConfigTable(BASELINE_CONFIG_FIELDS);
    expect(baselines).toContain("| `tiedWeights` | `--tied-weights` | true; models saved before this field existed: false | true or false | cdl, cvae |");
    for (const name of Object.keys(CONFIG_FIELDS)) expect(`${vcm}\n${baselines}`.split(`| \`${name}\` |`)).toHaveLength(2);
  });

  it("finds a table by its markers in a docs/ page and rewrites only what drifted", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-config-tables-"));
    try {
      fs.mkdirSync(path.join(root, "docs"));
      fs.writeFileSync(path.join(root, "README.md"), "# vcm\n\n<!-- config-table:vcm -->\nstale\n<!-- /config-table -->\n\nafter\n");
      const page = path.join(root, "docs", "cli.md");
      fs.writeFileSync(page, "# CLI\n\nintro\n\n<!-- config-table:baselines -->\n<!-- /config-table -->\n");
      expect(findConfigTable({ root, family: "baselines" })).toEqual({ file: page, text: "" });
      expect(writeConfigTables(root)).toEqual([path.join(root, "README.md"), page]);
      expect(fs.readFileSync(path.join(root, "README.md"), "utf8")).toBe(`# vcm\n\n<!-- config-table:vcm -->\n${renderConfigTable(VCM_CONFIG_FIELDS)}\n<!-- /config-table -->\n\nafter\n`);
      expect(findConfigTable({ root, family: "baselines" })?.text).toBe(renderConfigTable(BASELINE_CONFIG_FIELDS));
      expect(writeConfigTables(root)).toEqual([]);
      expect(findConfigTable({ root, family: "nonesuch" })).toBeUndefined();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("vcm train's configuration flags", () => {
  it("has one flag per settable field, named after it (learningRate keeps --lr)", () => {
    const settable = Object.entries(CONFIG_FIELDS).filter(([, f]: [string, ConfigField]) => f.input !== false).map(([name]) => name);
    expect(CONFIG_FLAGS.map((f) => f.key)).toEqual(settable);
    expect(CONFIG_FLAGS.find((f) => f.key === "learningRate")?.flag).toBe("lr");
    expect(CONFIG_FLAGS.find((f) => f.key === "deepconnNegativePool")?.flag).toBe("deepconn-negative-pool");
    expect(CONFIG_FLAGS.some((f) => f.key === "evalBatchSize")).toBe(false);
  });

  it("parses each flag by its field's kind", () => {
    expect(configFromFlags({ latentDim: "8", lr: "0.01", baselineOptimizer: "RMSprop", tiedWeights: false, dataset: "x" })).toEqual({
      latentDim: 8,
      learningRate: 0.01,
      baselineOptimizer: "rmsprop",
      tiedWeights: false,
    });
    expect(() => configFromFlags({ latentDim: "2.5" })).toThrow('--latent-dim takes an integer, got "2.5".');
    expect(() => configFromFlags({ baselineOptimizer: "sgd" })).toThrow('--baseline-optimizer takes adam or rmsprop, got "sgd".');
  });
});
