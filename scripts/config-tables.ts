/**
 * The documentation's parameter tables, generated from the engine's field tables (src/engine/config-fields.ts):
 * each lives between `<!-- config-table:FAMILY -->` and `<!-- /config-table -->` in README.md or a docs/*.md
 * page, wherever the page is, and `npm run config-tables` rewrites it (a test fails when one drifts).
 */
import fs from "node:fs";
import path from "node:path";
import { BASELINE_CONFIG_FIELDS, boundsText, defaultText, VCM_CONFIG_FIELDS, type ConfigField, type ConfigFieldName } from "../src/engine/config-fields.ts";
import { flagOf } from "./commands/config-flags.ts";

/** The tables by family, as the markers name them. */
export const CONFIG_TABLE_FAMILIES: Readonly<Record<string, Readonly<Record<string, ConfigField>>>> = Object.freeze({
  vcm: VCM_CONFIG_FIELDS,
  baselines: BASELINE_CONFIG_FIELDS,
});

const END = "<!-- /config-table -->";

/** The Markdown table of one family: field, flag, default, range, the variants that read it, what `vcm experiment --tune` searches, and what it is. */
export function renderConfigTable(fields: Readonly<Record<string, ConfigField>>): string {
  const cell = (text: string): string => text.replace(/\|/g, "\\|");
  const rows = Object.entries(fields).map(([name, field]) => {
    const flag = flagOf(name as ConfigFieldName);
    const tuned = field.tune === undefined ? "–" : `${tuneNumber(field.tune.min)} to ${tuneNumber(field.tune.max)}, ${field.tune.scale}`;
    return `| \`${name}\` | ${flag === undefined ? "–" : `\`${flag}\``} | ${cell(defaultText(field))} | ${cell(boundsText(field))} | ${field.variants.join(", ")} | ${tuned} | ${cell(field.description)} |`;
  });
  return ["| field | `vcm train` flag | default | range | read by | `--tune` searches | what it is |", "|---|---|---|---|---|---|---|", ...rows].join("\n");
}

function tuneNumber(v: number): string {
  return v.toLocaleString("en-US", { maximumSignificantDigits: 3 });
}

/** README.md and every docs/*.md page under a checkout: where the tables may live. */
export function documentationFiles(root: string): string[] {
  const docs = path.join(root, "docs");
  const pages = fs.existsSync(docs) ? fs.readdirSync(docs).filter((f) => f.endsWith(".md")).map((f) => path.join(docs, f)) : [];
  return [path.join(root, "README.md"), ...pages.sort()];
}

/** Where a family's table sits: the file and the text between its markers, or undefined when no file has it. */
export function findConfigTable(options: { root: string; family: string }): { file: string; text: string } | undefined {
  const start = `<!-- config-table:${options.family} -->`;
  for (const file of documentationFiles(options.root)) {
    const content = fs.readFileSync(file, "utf8");
    const from = content.indexOf(start);
    if (from < 0) continue;
    const to = content.indexOf(END, from);
    if (to < 0) throw new Error(`${file}: ${start} has no ${END} after it`);
    return { file, text: content.slice(from + start.length, to).trim() };
  }
  return undefined;
}

/** Rewrites every family's table where its markers are; returns the files changed. */
export function writeConfigTables(root: string): string[] {
  const changed: string[] = [];
  for (const [family, fields] of Object.entries(CONFIG_TABLE_FAMILIES)) {
    const found = findConfigTable({ root, family });
    if (found === undefined) throw new Error(`no file under ${root} has <!-- config-table:${family} -->`);
    const content = fs.readFileSync(found.file, "utf8");
    const start = `<!-- config-table:${family} -->`;
    const from = content.indexOf(start) + start.length;
    const to = content.indexOf(END, from);
    const next = `${content.slice(0, from)}\n${renderConfigTable(fields)}\n${content.slice(to)}`;
    if (next !== content) {
      fs.writeFileSync(found.file, next);
      changed.push(found.file);
    }
  }
  return changed;
}
