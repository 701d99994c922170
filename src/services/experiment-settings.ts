/**
 * An experiment's hyper-parameters (issue 28, item 1): the settings of `vcm train`'s config table given once
 * for the whole experiment, each applied to the listed models whose family reads it (CONFIG_FIELDS'
 * variants) and refused when none does, and grids over the table's numeric fields, whose product each
 * listed model trains over the axes it reads.
 */
import { boundsText, CONFIG_FIELDS, type ConfigFieldName } from "../engine/config-fields.ts";
import { resolveVcmConfig, type VcmConfig } from "../engine/config.ts";
import type { Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";

/** Fields an experiment sets itself, so that no flag or input sets them: its runs use seeds 1 … seeds. */
export const EXPERIMENT_SET_FIELDS: ReadonlyArray<ConfigFieldName> = Object.freeze(["seed"]);

/** Distinct values on each axis of a grid. */
export const MAX_GRID_VALUES = 20;

/** Grids by field name, each axis's distinct values in the order given; axes in the table's order. */
export type ExperimentGrid = Readonly<Record<string, ReadonlyArray<number>>>;

/** One cell of a grid for one model: a value per axis it reads. */
export type GridCell = Readonly<Record<string, number>>;

const FIELD_NAMES = Object.keys(CONFIG_FIELDS) as ConfigFieldName[];

function bad(sentence: string): never {
  throw new UserError(ErrorCode.BAD_USER_INPUT, sentence);
}

/** Whether training `variant` reads the field. */
export function readsField(variant: Variant, name: string): boolean {
  return (CONFIG_FIELDS[name as ConfigFieldName]?.variants as ReadonlyArray<Variant> | undefined)?.includes(variant) === true;
}

/** A name an experiment may set: a settable field of the table that the experiment does not set itself. */
function checkSettingName(name: string): ConfigFieldName {
  const field = CONFIG_FIELDS[name as ConfigFieldName];
  if (field === undefined || field.input === false) {
    bad(`"${name}" is not a training setting; an experiment takes those of \`vcm train\`: ${FIELD_NAMES.filter((n) => CONFIG_FIELDS[n].input !== false && !EXPERIMENT_SET_FIELDS.includes(n)).join(", ")}.`);
  }
  if (EXPERIMENT_SET_FIELDS.includes(name as ConfigFieldName)) bad(`${name} is set by the experiment itself (its runs use seeds 1 … seeds); leave it out and give seeds instead.`);
  return name as ConfigFieldName;
}

/**
 * Checks that every named setting is one the experiment takes and that some chosen model reads it:
 * BAD_USER_INPUT naming the setting and the models that would read it otherwise.
 */
export function assertSettingsRead(o: { names: Iterable<string>; models: ReadonlyArray<Variant> }): void {
  for (const name of o.names) {
    const field = CONFIG_FIELDS[checkSettingName(name)];
    if (o.models.some((m) => readsField(m, name))) continue;
    bad(`${name} is read only by ${field.variants.join(", ")}, and none of the chosen models (${o.models.join(", ")}) reads it; add one of them to the models, or leave ${name} out.`);
  }
}

/** The settings of `config` that training `variant` reads (the others are for the other models of the experiment). */
export function settingsOf(config: Readonly<Record<string, unknown>>, variant: Variant): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).filter(([name, value]) => value !== undefined && readsField(variant, name)));
}

/**
 * Checks grids given by field name (numeric fields only, not those the experiment sets, at least one and at
 * most MAX_GRID_VALUES distinct values each; the values' bounds are checked when each run's configuration
 * resolves) and returns them in the table's order with duplicates removed.
 */
export function resolveGrid(raw: Readonly<Record<string, ReadonlyArray<number>>>): ExperimentGrid | undefined {
  for (const name of Object.keys(raw)) {
    const field = CONFIG_FIELDS[checkSettingName(name)];
    if (field.kind !== "int" && field.kind !== "float" && field.kind !== "probability") bad(`A grid runs over numeric settings; ${name} is ${boundsText(field)}: set it once instead.`);
  }
  const names = FIELD_NAMES.filter((name) => raw[name] !== undefined);
  if (names.length === 0) return undefined;
  return Object.fromEntries(
    names.map((name) => {
      const distinct = [...new Set(raw[name])];
      if (distinct.length === 0) bad(`The grid's ${name} lists no value; give at least one, or leave it out.`);
      if (distinct.length > MAX_GRID_VALUES) bad(`The grid's ${name} lists ${distinct.length.toLocaleString("en-US")} distinct values; at most ${MAX_GRID_VALUES} per axis.`);
      return [name, distinct];
    }),
  );
}

/** The grid's axes that training `variant` reads, in the grid's order. */
export function gridAxesOf(grid: ExperimentGrid | undefined, variant: Variant): string[] {
  return Object.keys(grid ?? {}).filter((name) => readsField(variant, name));
}

/** How many cells `variant` trains over (the product of the axes it reads; 0 when it reads none), counted without expanding them. */
export function gridCellCount(grid: ExperimentGrid | undefined, variant: Variant): number {
  const axes = gridAxesOf(grid, variant);
  return axes.length === 0 ? 0 : axes.reduce((n, name) => n * grid![name].length, 1);
}

/** The cells `variant` trains over: every combination of the values of the axes it reads, the first axis slowest. */
export function gridCellsOf(grid: ExperimentGrid | undefined, variant: Variant): GridCell[] {
  const axes = gridAxesOf(grid, variant);
  if (axes.length === 0) return [];
  return axes.reduce<GridCell[]>((cells, name) => cells.flatMap((cell) => grid![name].map((v) => ({ ...cell, [name]: v }))), [{}]);
}

/** The fields a model's resolved configuration sets other than its variant's defaults (its seed aside), in the table's order. */
export function nonDefaultSettings(config: VcmConfig): Array<[ConfigFieldName, unknown]> {
  const defaults = resolveVcmConfig({ variant: config.variant });
  return FIELD_NAMES.filter((name) => name !== "seed" && readsField(config.variant, name) && config[name] !== defaults[name]).map((name) => [name, config[name]]);
}

/** Settings as the report writes them: "annealSteps 2,000, beta 0.8", or "the defaults". */
export function settingsText(settings: ReadonlyArray<readonly [string, unknown]>): string {
  if (settings.length === 0) return "the defaults";
  return settings.map(([name, value]) => `${name} ${typeof value === "number" ? value.toLocaleString("en-US", { maximumSignificantDigits: 6 }) : String(value)}`).join(", ");
}
