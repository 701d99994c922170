/**
 * `vcm experiment --tune N` (issue 28, item 2): per model, N trials of a seeded random search over the
 * fields whose row declares a tuning range (CONFIG_FIELDS' tune: the learning rate and each family's main
 * regularisation weights), each scored by its best validation NDCG@100; the best trial's settings are then
 * trained with every seed. The search itself is pure (a scorer is passed in), so a test can plant the answer.
 */
import { CONFIG_FIELDS, type ConfigFieldName } from "../engine/config-fields.ts";
import { Rng } from "../engine/random.ts";
import type { Variant } from "../engine/types.ts";
import { readsField } from "./experiment-settings.ts";

/** Trials per model: 1 to this many (the experiment's run bound counts them too). */
export const MAX_TUNE_TRIALS = 100;

/** Epochs without a better validation NDCG@100 after which a trial stops, unless the experiment sets patience. */
export const TUNE_PATIENCE = 5;

/** Seed of the search's draws (the trials train with the experiment's first seed). */
export const TUNE_SEED = 1;

/** One searched field: its range and scale, from its row. */
export interface TuneAxis {
  readonly name: ConfigFieldName;
  readonly min: number;
  readonly max: number;
  readonly scale: "log" | "linear";
  readonly integer: boolean;
}

/** One trial: the settings it tried and its best validation NDCG@100 (NaN: it could not be scored). */
export interface TuneTrial {
  readonly settings: Readonly<Record<string, number>>;
  readonly score: number;
}

/** The fields `variant` is tuned over: those with a tuning range that it reads, less those the experiment fixes (a setting or a grid axis). */
export function tuneSpace(variant: Variant, fixed: ReadonlySet<string>): TuneAxis[] {
  return (Object.keys(CONFIG_FIELDS) as ConfigFieldName[]).flatMap((name) => {
    const range = CONFIG_FIELDS[name].tune;
    if (range === undefined || fixed.has(name) || !readsField(variant, name)) return [];
    return [{ name, ...range, integer: CONFIG_FIELDS[name].kind === "int" }];
  });
}

/**
 * The settings of `trials` trials: the first is the untuned settings ({}), so the choice is never worse on
 * validation than not tuning; the others draw each field uniformly (in log space for a "log" field) from a
 * generator seeded with `seed`, the same on every machine.
 */
export function drawTrials(o: { space: ReadonlyArray<TuneAxis>; trials: number; seed: number }): Array<Record<string, number>> {
  const rng = new Rng(o.seed);
  return Array.from({ length: o.trials }, (_, t) => {
    const draws = o.space.map((axis) => [axis.name, drawValue(axis, rng.next())] as const);
    return t === 0 ? {} : Object.fromEntries(draws);
  });
}

function drawValue(axis: TuneAxis, u: number): number {
  const raw = axis.scale === "log" ? Math.exp(Math.log(axis.min) + u * (Math.log(axis.max) - Math.log(axis.min))) : axis.min + u * (axis.max - axis.min);
  // Three significant digits: a report a person can read and a value a flag can repeat.
  return axis.integer ? Math.round(raw) : Number(raw.toPrecision(3));
}

/** The trial with the best score: the first of equals, never an unscored one (undefined when none was scored). */
export function bestTrial(trials: ReadonlyArray<TuneTrial>): TuneTrial | undefined {
  let best: TuneTrial | undefined;
  for (const trial of trials) if (Number.isFinite(trial.score) && (best === undefined || trial.score > best.score)) best = trial;
  return best;
}

/**
 * Runs the search: each trial of drawTrials not already in `done` (a resumed experiment's) is scored in
 * turn and handed to onTrial; returns every trial and the best.
 */
export async function tune(o: {
  space: ReadonlyArray<TuneAxis>;
  trials: number;
  seed: number;
  score: (settings: Readonly<Record<string, number>>) => Promise<number>;
  done?: ReadonlyArray<TuneTrial>;
  onTrial?: (trial: TuneTrial) => Promise<void> | void;
}): Promise<{ trials: TuneTrial[]; best: TuneTrial | undefined }> {
  const trials: TuneTrial[] = [...(o.done ?? [])];
  for (const settings of drawTrials(o).slice(trials.length)) {
    const trial = { settings, score: await o.score(settings) };
    trials.push(trial);
    await o.onTrial?.(trial);
  }
  return { trials, best: bestTrial(trials) };
}
