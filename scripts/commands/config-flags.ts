/**
 * `vcm train`'s configuration flags, one per settable row of the engine's field tables
 * (src/engine/config-fields.ts), named after the field in kebab case (`latentDim` → `--latent-dim`).
 */
import type { Command } from "commander";
import { CONFIG_FIELDS, fieldText, type ConfigField, type ConfigFieldName } from "../../src/engine/config-fields.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";

/** Flags whose name is not the field's in kebab case: the short spelling users already type. */
const FLAG_NAMES: Readonly<Partial<Record<ConfigFieldName, string>>> = Object.freeze({ learningRate: "lr" });

/** One configuration flag: the field it sets and how its value is read. */
export interface ConfigFlag {
  readonly flag: string;
  readonly key: ConfigFieldName;
  readonly field: ConfigField;
}

/** Every configuration field a user may set, as a flag, in table order. */
export const CONFIG_FLAGS: ReadonlyArray<ConfigFlag> = Object.freeze(
  (Object.keys(CONFIG_FIELDS) as ConfigFieldName[])
    .filter((key) => CONFIG_FIELDS[key].input !== false)
    .map((key) => ({ flag: FLAG_NAMES[key] ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), key, field: CONFIG_FIELDS[key] })),
);

/** The flag that sets a field, as `--flag` (for the README's tables). */
export function flagOf(key: ConfigFieldName): string | undefined {
  const found = CONFIG_FLAGS.find((f) => f.key === key);
  return found === undefined ? undefined : `--${found.flag}`;
}

/** Declares every configuration flag on a command, but those of `except` (fields the command sets itself, as `vcm experiment` sets seed). */
export function addConfigFlags(command: Command, options: { except?: ReadonlyArray<ConfigFieldName> } = {}): void {
  for (const { flag, key, field } of CONFIG_FLAGS) {
    if (options.except?.includes(key) === true) continue;
    const help = fieldText(field);
    if (field.kind === "boolean") {
      // Both switches, so that giving neither leaves the field to its default.
      command.option(`--${flag}`, help).option(`--no-${flag}`, `the opposite of --${flag}`);
    } else command.option(`--${flag} <${field.kind === "int" ? "n" : field.kind === "enum" ? "name" : "x"}>`, help);
  }
}

/** The field a flag or field name names (`latent-dim`, `latentDim`, `lr`, `learningRate`), or undefined. */
export function flagField(name: string): ConfigFlag | undefined {
  return CONFIG_FLAGS.find((f) => f.flag === name || f.key === name);
}

/** The configuration fields given as flags, each parsed to its kind (the engine checks the ranges). */
export function configFromFlags(opts: Readonly<Record<string, unknown>>): Record<string, number | string | boolean> {
  const config: Record<string, number | string | boolean> = {};
  for (const { flag, key, field } of CONFIG_FLAGS) {
    const raw = opts[camel(flag)];
    if (raw === undefined) continue;
    if (field.kind === "boolean") config[key] = raw === true;
    else if (field.kind === "enum") config[key] = parseChoice({ flag, raw: String(raw), values: field.values ?? [] });
    else config[key] = parseNumber({ flag, raw: String(raw), kind: field.kind === "int" ? "int" : "float" });
  }
  return config;
}

function parseNumber(options: { flag: string; raw: string; kind: "int" | "float" }): number {
  const { flag, raw, kind } = options;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || (kind === "int" && !Number.isInteger(value))) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--${flag} takes ${kind === "int" ? "an integer" : "a number"}, got "${raw}".`);
  }
  return value;
}

function parseChoice(options: { flag: string; raw: string; values: ReadonlyArray<string> }): string {
  const name = options.raw.trim().toLowerCase();
  if (!options.values.includes(name)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--${options.flag} takes ${options.values.join(" or ")}, got "${options.raw}".`);
  }
  return name;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
