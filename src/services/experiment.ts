/**
 * `vcm experiment` (issue 11, first part): every model of a list trained with every seed on one
 * dataset (its split stays the dataset's), each run evaluated on the test split and kept as a model
 * in the database, then a report of the paper's comparisons. Resumable: DIR/experiment.json records
 * the arguments and each finished run as soon as it ends (written to a temporary file, then renamed),
 * so a killed experiment started again with the same arguments goes on from there, and a folder of an
 * experiment with other arguments is refused instead of mixed.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { DataSource } from "typeorm";
import { Experiment } from "../db/entities/experiment.entity.ts";
import {
  cancelQueuedExperiment,
  claimExperimentRow,
  endExperiment,
  findExperiment,
  findExperimentById,
  finishExperiment,
  isExperimentOver,
  recordExperimentProgress,
  setExperimentModel,
} from "../db/experiment-rows.ts";
import { newLeaseOwner, renewLease, requestCancel } from "../db/job-leases.ts";
import { loadDatasetMatrices } from "../db/load-dataset-matrices.ts";
import { DEFAULT_VCM_CONFIG, resolveVcmConfig, type VcmConfig } from "../engine/config.ts";
import { capabilitiesOf, type Variant } from "../engine/types.ts";
import { ErrorCode, UserError } from "../errors.ts";
import { formatCell, resultTable, type ResultCell, type RunResult } from "./experiment-report.ts";
import { holdLease } from "./job-queue.ts";
import { evaluateSavedModel } from "./model-evaluation.ts";
import { METRIC_NAMES, parseVariant } from "./model-names.ts";
import { BEYOND_ACCURACY_K, beyondAccuracyOfRanking, cohortBoundaries, cohortIndex, cohortLabel, DEFAULT_COHORT_GROUPS, DEFAULT_ITEM_SHARES, ITEM_COHORT_K, itemCohortRecallOfRanking } from "./cohorts.ts";
import { curvesSpec, gridSpec, metricsSpec, reportFigure, writePlot, type ReportFigure } from "./experiment-plots.ts";
import { loadModel } from "./saved-models.ts";
import { bestTrial, MAX_TUNE_TRIALS, tune, tuneSpace, TUNE_PATIENCE, TUNE_SEED, type TuneAxis, type TuneTrial } from "./experiment-tune.ts";
import { initBackend, trainingMemoryLimit } from "../engine/runtime/index.ts";
import { trainModel } from "../engine/models/index.ts";
import {
  assertSettingsRead,
  gridAxesOf,
  gridCellCount,
  gridCellsOf,
  nonDefaultSettings,
  readsField,
  resolveGrid,
  settingsOf,
  settingsText,
  type ExperimentGrid,
  type GridCell,
} from "./experiment-settings.ts";
import { trainAndSave, trainingShapeOf } from "./training.ts";
import { memoryRefusal } from "../engine/memory.ts";

/** Training seeds per model: 1 to this many. */
export const MAX_EXPERIMENT_SEEDS = 100;

export { MAX_GRID_VALUES } from "./experiment-settings.ts";

/** Runs one experiment may plan (models × seeds plus grid cells × seeds, duplicates removed): a few days of training at most. */
export const MAX_EXPERIMENT_RUNS = 1000;

/** What an experiment's row says when it was cancelled (cancelExperiment, `vcm cancel-experiment`). */
export const EXPERIMENT_CANCELLED_MESSAGE = "The experiment was cancelled; start it again with the same arguments to resume it.";

/** What a row says when the process that ran it is gone (killed, or its server killed) and another process noticed. */
export const EXPERIMENT_ABANDONED_MESSAGE = "The process that ran this experiment stopped before it finished; start it again with the same arguments to resume it.";

/** What defines an experiment: runs of other arguments are never mixed into its report. */
export interface ExperimentArgs {
  readonly dataset: string;
  readonly models: ReadonlyArray<Variant>;
  readonly seeds: number;
  /** Epochs of every run (default: the variant's default). */
  readonly epochs?: number;
  /** Other settings of the config table (`vcm train`'s), each applied to the listed models that read it. */
  readonly config?: Readonly<Record<string, unknown>>;
  /**
   * Grids over numeric settings (the paper's Figure 3 is latentDim × beta): every listed model that reads an
   * axis is trained, besides its own runs, for every combination of the axes it reads, with every seed.
   */
  readonly grid?: ExperimentGrid;
  /** Tuning trials per model (experiment-tune.ts) before its seeds' runs, which then train at the best trial's settings; absent: untuned. */
  readonly tune?: number;
}

/** One run of a grid: the model, its cell and seed, and its best validation NDCG@100. */
interface GridRun {
  readonly model: Variant;
  readonly cell: GridCell;
  readonly seed: number;
  readonly modelId: number;
  readonly bestValNdcg100: number;
}

interface ExperimentFile {
  readonly key: string;
  readonly args: ExperimentArgs;
  readonly runs: ReadonlyArray<RunResult & { readonly mode: "vcm" | "vcm-cd" }>;
  readonly gridRuns?: ReadonlyArray<GridRun>;
  /** Each tuned model's trials so far, in the order drawn. */
  readonly tuning?: Readonly<Record<string, ReadonlyArray<TuneTrial>>>;
}

/** Seeds of the runs: 1 … seeds (training seeds; the dataset's split does not change). */
function seedsOf(args: ExperimentArgs): number[] {
  return Array.from({ length: args.seeds }, (_, i) => i + 1);
}

/**
 * Checks the arguments before any run (unknown variants, bad counts, settings no chosen model reads,
 * hyper-parameters out of bounds). `config` holds any settable field of the config table (epochs there is
 * the same as `epochs`); `grid` lists values by field name.
 */
export function resolveExperimentArgs(raw: {
  dataset: string;
  models: ReadonlyArray<string>;
  seeds: number;
  epochs?: number;
  config?: Readonly<Record<string, unknown>>;
  grid?: Readonly<Record<string, ReadonlyArray<number> | undefined>>;
  /** Tuning trials per model; 0 or absent: untuned. */
  tune?: number;
}): ExperimentArgs {
  if (raw.models.length === 0) throw new UserError(ErrorCode.BAD_USER_INPUT, "--models names no model; list variants such as vcm,vcm-se,popularity.");
  const models = [...new Set(raw.models.map((m) => parseVariant(m.trim())))];
  if (!Number.isInteger(raw.seeds) || raw.seeds < 1 || raw.seeds > MAX_EXPERIMENT_SEEDS) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--seeds must be an integer from 1 to ${MAX_EXPERIMENT_SEEDS}, got ${raw.seeds}.`);
  }
  const { epochs: configEpochs, ...given } = Object.fromEntries(Object.entries(raw.config ?? {}).filter(([, v]) => v !== undefined && v !== null)) as Record<string, unknown>;
  if (configEpochs !== undefined && raw.epochs !== undefined && configEpochs !== raw.epochs) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `epochs is given twice (${raw.epochs} and ${String(configEpochs)}); give it once.`);
  }
  const epochs = raw.epochs ?? (configEpochs as number | undefined);
  const config = Object.keys(given).length === 0 ? undefined : given;
  const grid = resolveGrid(Object.fromEntries(Object.entries(raw.grid ?? {}).filter((e): e is [string, ReadonlyArray<number>] => e[1] !== undefined)));
  assertSettingsRead({ names: [...Object.keys(given), ...(epochs === undefined ? [] : ["epochs"]), ...Object.keys(grid ?? {})], models });
  const args: ExperimentArgs = {
    dataset: raw.dataset,
    models,
    seeds: raw.seeds,
    ...(epochs === undefined ? {} : { epochs }),
    ...(config === undefined ? {} : { config }),
    ...(grid === undefined ? {} : { grid }),
    ...(raw.tune === undefined || raw.tune === 0 ? {} : { tune: raw.tune }),
  };
  if (args.tune !== undefined) {
    if (!Number.isInteger(args.tune) || args.tune < 0 || args.tune > MAX_TUNE_TRIALS) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `--tune must be an integer from 0 (untuned) to ${MAX_TUNE_TRIALS} trials per model, got ${args.tune}.`);
    }
    if (models.every((m) => tuneSpaceOf(args, m).length === 0)) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `None of the chosen models (${models.join(", ")}) has a setting left to tune (each is fixed by a setting or a grid, or the model reads none); leave --tune out.`);
    }
  }
  // Counted as a product of the distinct values before anything is expanded, so any input is judged in linear time.
  const runs = plannedRuns(args);
  if (runs > MAX_EXPERIMENT_RUNS) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `These arguments plan ${runs.toLocaleString("en-US")} runs (models × seeds + grid cells × seeds); an experiment may plan at most ${MAX_EXPERIMENT_RUNS.toLocaleString("en-US")}: use fewer seeds, models or grid values.`,
    );
  }
  // Every run's configuration must resolve, so a bad value fails now and not after hours of runs (at most MAX_EXPERIMENT_RUNS cells).
  for (const variant of models) {
    runConfig(args, variant, { seed: 1 });
    for (const cell of gridCellsOf(grid, variant)) runConfig(args, variant, { ...cell, seed: 1 });
  }
  return args;
}

/** The resolved configuration of one run of `variant`: the settings it reads, then `extra` (its seed, its grid cell). */
export function runConfig(args: ExperimentArgs, variant: Variant, extra: Readonly<Record<string, unknown>>): VcmConfig {
  return resolveVcmConfig({ ...settingsOf({ ...(args.config ?? {}), ...(args.epochs === undefined ? {} : { epochs: args.epochs }) }, variant), ...extra, variant });
}

/** Runs an experiment's arguments plan: every model × seed, each model's grid cells × seeds, and each tuned model's trials. */
export function plannedRuns(args: ExperimentArgs): number {
  return args.models.reduce((n, model) => n + (1 + gridCellCount(args.grid, model)) * args.seeds + (args.tune !== undefined && tuneSpaceOf(args, model).length > 0 ? args.tune : 0), 0);
}

/** What `--tune` searches for `model`: the fields with a tuning range it reads, less those the experiment's settings and grids fix. */
export function tuneSpaceOf(args: ExperimentArgs, model: Variant): TuneAxis[] {
  return tuneSpace(model, new Set([...Object.keys(args.config ?? {}), ...Object.keys(args.grid ?? {})]));
}

/** The settings a model's seeds train with: its best trial's when tuned (none before its search ends), else none over the given ones. */
function tunedSettings(state: ExperimentFile, model: Variant): Readonly<Record<string, number>> {
  return bestTrial(state.tuning?.[model] ?? [])?.settings ?? {};
}

/** The key that ties an experiment's folder and row to its arguments. */
export function experimentKey(args: ExperimentArgs): string {
  return keyOf(args);
}

function keyOf(args: ExperimentArgs): string {
  return createHash("sha256").update(JSON.stringify(args)).digest("hex").slice(0, 16);
}

function readState(file: string, args: ExperimentArgs): ExperimentFile {
  const key = keyOf(args);
  if (!fs.existsSync(file)) return { key, args, runs: [] };
  // JSON has no NaN: a user without a test item was written as null, and is NaN again here.
  const state = JSON.parse(fs.readFileSync(file, "utf8"), (_key, value: unknown) => (value === null ? Number.NaN : value)) as ExperimentFile;
  if (state.key !== key) {
    throw new UserError(
      ErrorCode.CONFLICT,
      `${path.basename(path.dirname(file))} holds an experiment with other arguments (${JSON.stringify(state.args)}); pass the same arguments to resume it, or another --out.`,
    );
  }
  // Grid runs written before grids covered any setting were VCM's K × β cells.
  const gridRuns = state.gridRuns?.map((r) => {
    const old = r as GridRun & { latentDim?: number; beta?: number };
    return old.cell === undefined ? { model: "vcm" as const, cell: { latentDim: old.latentDim!, beta: old.beta! }, seed: old.seed, modelId: old.modelId, bestValNdcg100: old.bestValNdcg100 } : r;
  });
  return gridRuns === undefined ? state : { ...state, gridRuns };
}

function writeState(file: string, state: ExperimentFile): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(state));
  fs.renameSync(tmp, file);
}

/** What an experiment did, and where its report is. */
export interface ExperimentSummary {
  readonly dir: string;
  readonly report: string;
  readonly runs: number;
  /** Runs trained by this call (the others were already done: a resumed experiment). */
  readonly trained: number;
  /** The experiment's row (GraphQL experiment(id)). */
  readonly experimentId: number;
}

/** The key of an experiment's results under which its report's figures are kept (served by Experiment.figures, not in its tables). */
const RESULTS_FIGURES_KEY = "figures";

/** An experiment's report tables: its results without the figures (null until it has results). */
export function experimentTables(results: Readonly<Record<string, unknown>> | null): Record<string, unknown> | null {
  if (results === null) return null;
  const { [RESULTS_FIGURES_KEY]: _figures, ...tables } = results;
  return tables;
}

/** The figures an experiment's report drew, with the specs it rendered (empty until it has results, and for reports written before figures were kept). */
export function experimentFigures(results: Readonly<Record<string, unknown>> | null): ReadonlyArray<ReportFigure> {
  const figures = results?.[RESULTS_FIGURES_KEY];
  return Array.isArray(figures) ? (figures as ReadonlyArray<ReportFigure>) : [];
}

/** NOT_FOUND for an experiment id that names none. */
export function noSuchExperiment(id: number | string): UserError {
  return new UserError(ErrorCode.NOT_FOUND, `There is no experiment ${id}; list them with the experiments query.`);
}

/** The experiment, or NOT_FOUND. */
export async function requireExperiment(dataSource: DataSource, id: number): Promise<Experiment> {
  const row = await findExperimentById(dataSource, id);
  if (row === null) throw noSuchExperiment(id);
  return row;
}

/**
 * Cancels an experiment: a queued one at once, a running one by asking its owner, which stops within
 * a third of its lease (its current run's model is failed, so it can be deleted). NOT_FOUND for an
 * unknown id, CONFLICT for one that is over. Returns the row as it is now.
 */
export async function cancelExperiment(dataSource: DataSource, id: number): Promise<Experiment> {
  const row = await requireExperiment(dataSource, id);
  if (isExperimentOver(row.status)) throw new UserError(ErrorCode.CONFLICT, `Experiment ${id} has already ended (${row.status}); there is nothing to cancel.`);
  if (!(await cancelQueuedExperiment(dataSource, { id, error: EXPERIMENT_CANCELLED_MESSAGE }))) await requestCancel(dataSource, { table: Experiment, id });
  return (await findExperimentById(dataSource, id)) ?? row;
}

/** An experiment's progress event. */
export interface ExperimentProgress {
  readonly done: number;
  readonly total: number;
  readonly model: string;
  readonly seed: number;
  readonly etaSeconds: number | null;
}

/** The line a progress event writes to the log or terminal. */
export function experimentProgressLine(e: ExperimentProgress): string {
  return `experiment: ${e.done}/${e.total} runs done (${e.model}, seed ${e.seed})${e.etaSeconds === null ? "" : `, about ${Math.round(e.etaSeconds)} s left`}`;
}

/** Runs (or resumes) an experiment and writes DIR/report.md and one CSV per table. */
export async function runExperiment(options: {
  dataSource: DataSource;
  modelsDir: string;
  args: ExperimentArgs;
  outDir: string;
  onProgress?: (event: ExperimentProgress) => void;
  /** Milliseconds the lease on the row lasts without renewal (AppConfig.jobLeaseSeconds; the server's when heldBy is given). */
  leaseMs?: number;
  /**
   * The owner (a server's job queue) that claimed the row for this process and holds its lease, as it
   * does a training job's: this process works under that name and stops when told (signal). Absent,
   * this process claims the row and holds the lease itself (`vcm experiment`), with the same heartbeat.
   */
  heldBy?: string;
  /** Stops the experiment as cancelled (its current run's model failed, its row CANCELLED). */
  signal?: AbortSignal;
}): Promise<ExperimentSummary> {
  const { dataSource, args } = options;
  const owner = options.heldBy ?? newLeaseOwner();
  const leaseMs = options.leaseMs ?? 30_000;
  fs.mkdirSync(options.outDir, { recursive: true });
  const stateFile = path.join(options.outDir, "experiment.json");
  let state = readState(stateFile, args);
  const matrices = await loadDatasetMatrices(dataSource, args.dataset);
  const plan = args.models.flatMap((model) => seedsOf(args).map((seed) => ({ model, seed })));
  const start = { datasetId: matrices.datasetId, key: state.key, args: { ...args }, outDir: path.resolve(options.outDir), runsTotal: plannedRuns(args), tuneTrials: args.tune ?? 0 };
  const row = await claimExperimentRow(dataSource, { start, owner, leaseMs, handedBy: options.heldBy ?? null });
  if (row === null) {
    const other = await findExperiment(dataSource, start);
    throw new UserError(
      ErrorCode.CONFLICT,
      `Experiment ${other?.id ?? ""} with these arguments is ${other?.status ?? "running"} in another process; wait for it, or cancel it with \`vcm cancel-experiment ${other?.id ?? ""}\`.`,
    );
  }
  const experimentId = row.id;
  const doneRuns = () =>
    new Set(state.runs.map((r) => `${r.model}|${r.seed}`)).size + (state.gridRuns?.length ?? 0) + Object.values(state.tuning ?? {}).reduce((n, trials) => n + trials.length, 0);
  // A cancel asked elsewhere (or the row taken away) stops the runs: seen by this process's own heartbeat, or by the queue that holds the lease, which signals.
  const stop = new AbortController();
  const stopNow = (): void => stop.abort();
  options.signal?.addEventListener("abort", stopNow);
  if (options.signal?.aborted) stop.abort();
  const lease =
    options.heldBy === undefined
      ? holdLease({ name: `experiment ${experimentId}`, leaseMs, renew: () => renewLease(dataSource, { table: Experiment, id: experimentId, owner, leaseMs }), onLost: stopNow, onCancelRequested: stopNow })
      : undefined;
  try {
    const summary = await runPlan();
    if (!(await finishExperiment(dataSource, { id: experimentId, owner, runsDone: doneRuns(), results: summary.results }))) {
      throw new UserError(
        ErrorCode.CONFLICT,
        `Experiment ${experimentId} was ended by another process while this one ran it (cancelled, or failed after its lease ran out); start it again with the same arguments to resume it.`,
      );
    }
    return { dir: options.outDir, report: summary.report, runs: summary.runs, trained: summary.trained, experimentId };
  } catch (error) {
    const cancelled = stop.signal.aborted;
    const why = cancelled ? EXPERIMENT_CANCELLED_MESSAGE : error instanceof UserError ? error.message : "The experiment failed with an internal error; the log has details.";
    await endExperiment(dataSource, { id: experimentId, owner, status: cancelled ? "cancelled" : "failed", error: why, runsDone: doneRuns() });
    throw cancelled ? cancelledError() : error;
  } finally {
    options.signal?.removeEventListener("abort", stopNow);
    await lease?.stop();
  }

  function cancelledError(): UserError {
    return new UserError(ErrorCode.CONFLICT, `Experiment ${experimentId} was cancelled after ${doneRuns()} of ${start.runsTotal} runs; start it again with the same arguments to resume it.`);
  }

  /** trainAndSave for one run, its model recorded on the row while it trains (so that it is failed if this process dies). */
  async function train(variant: Variant, config: Readonly<Record<string, unknown>>): Promise<Awaited<ReturnType<typeof trainAndSave>>> {
    stop.signal.throwIfAborted();
    let recorded: Promise<void> = Promise.resolve();
    const onPhase = (phase: string, modelId: number | undefined): void => {
      if (phase === "training" && modelId !== undefined) recorded = setExperimentModel(dataSource, { id: experimentId, owner, modelId });
    };
    try {
      return await trainAndSave({ dataSource, dataset: matrices.datasetId, variant, config, modelsDir: options.modelsDir, onPhase, signal: stop.signal });
    } finally {
      await recorded;
    }
  }

  /**
   * One tuning trial: trained in memory with the first seed and early stopping (the experiment's patience, or
   * TUNE_PATIENCE), never saved as a model; its score is its best validation NDCG@100.
   */
  async function scoreTrial(model: Variant, settings: Readonly<Record<string, number>>): Promise<number> {
    stop.signal.throwIfAborted();
    await initBackend();
    const config = runConfig(args, model, { ...(args.config?.patience === undefined ? { patience: TUNE_PATIENCE } : {}), ...settings, seed: 1 });
    // Refused as a run would be (BAD_USER_INPUT with the estimate) instead of failing deep inside training; a trial saves no checkpoint.
    const refusal = memoryRefusal({ shape: trainingShapeOf(matrices), config, limit: trainingMemoryLimit() });
    if (refusal !== undefined) throw new UserError(ErrorCode.BAD_USER_INPUT, refusal);
    const trained = await trainModel({ train: matrices.train, validation: matrices.validation, words: matrices.words, config, signal: stop.signal });
    try {
      return Math.max(...trained.history.map((h) => h.valNdcg100));
    } finally {
      trained.dispose();
    }
  }

  async function runPlan(): Promise<{ report: string; results: Record<string, unknown>; runs: number; trained: number }> {
  const started = performance.now();
  let trained = 0;
  for (const model of args.tune === undefined ? [] : args.models) {
    const space = tuneSpaceOf(args, model);
    if (space.length === 0) continue;
    await tune({
      space,
      trials: args.tune!,
      seed: TUNE_SEED,
      done: state.tuning?.[model] ?? [],
      score: (settings) => scoreTrial(model, settings),
      onTrial: async (trial) => {
        const trials = [...(state.tuning?.[model] ?? []), trial];
        state = { ...state, tuning: { ...state.tuning, [model]: trials } };
        writeState(stateFile, state);
        await recordExperimentProgress(dataSource, { id: experimentId, owner, runsDone: doneRuns() });
        options.onProgress?.({ done: trials.length, total: args.tune!, model: `tune ${model} (${trialText(trial)}: validation NDCG@100 ${trial.score.toFixed(4)})`, seed: 1, etaSeconds: null });
      },
    });
  }
  for (const [i, { model, seed }] of plan.entries()) {
    if (state.runs.some((r) => r.model === model && r.seed === seed)) continue;
    const { model: trainedRow } = await train(model, runConfig(args, model, { ...tunedSettings(state, model), seed }));
    const modes: Array<"vcm" | "vcm-cd"> = capabilitiesOf(model).reviewToClick ? ["vcm", "vcm-cd"] : ["vcm"];
    const runs = [...state.runs];
    for (const mode of modes) {
      const evaluation = await evaluateSavedModel({ dataSource, modelId: trainedRow.id, mode });
      const rows = Array.from(evaluation.ranking.rows);
      let capacity: number[] | undefined;
      if (mode === "vcm" && capabilitiesOf(model).capacity) {
        const loaded = await loadModel({ dataSource, modelId: trainedRow.id });
        try {
          capacity = Array.from(await loaded.model.capacity({ matrix: matrices.train, rows }));
        } finally {
          loaded.model.dispose();
        }
      }
      runs.push({
        ...(capacity === undefined ? {} : { capacity, activity: rows.map((r) => matrices.train.indptr[r + 1] - matrices.train.indptr[r]) }),
        ...(mode === "vcm"
          ? {
              beyondAccuracy: beyondAccuracyOfRanking({ top: evaluation.ranking.top, topStride: evaluation.ranking.topStride, train: matrices.train }),
              itemCohortRecall: itemCohortRecallOfRanking({ top: evaluation.ranking.top, topStride: evaluation.ranking.topStride, train: matrices.train, test: matrices.test }),
            }
          : {}),
        model,
        seed,
        mode,
        modelId: trainedRow.id,
        means: evaluation.metrics,
        perUser: Object.fromEntries(METRIC_NAMES.map((name) => [name, Array.from(evaluation.ranking.perUser[name])])),
        curve: trainedRow.history.map((h) => h.valNdcg100),
      });
    }
    state = { ...state, runs };
    writeState(stateFile, state);
    await recordExperimentProgress(dataSource, { id: experimentId, owner, runsDone: doneRuns() });
    trained += 1;
    const elapsed = (performance.now() - started) / 1000;
    const left = plan.slice(i + 1).filter((p) => !state.runs.some((r) => r.model === p.model && r.seed === p.seed)).length;
    options.onProgress?.({ done: plan.length - left, total: plan.length, model, seed, etaSeconds: trained === 0 ? null : (elapsed / trained) * left });
  }
  const cells = args.models.flatMap((model) => gridCellsOf(args.grid, model).flatMap((cell) => seedsOf(args).map((seed) => ({ model, cell, seed }))));
  const sameCell = (a: GridCell, b: GridCell) => Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([name, v]) => b[name] === v);
  for (const [i, { model, cell, seed }] of cells.entries()) {
    const gridRuns = state.gridRuns ?? [];
    if (gridRuns.some((r) => r.model === model && r.seed === seed && sameCell(r.cell, cell))) continue;
    const { model: trainedRow } = await train(model, runConfig(args, model, { ...cell, seed }));
    const best = Math.max(...trainedRow.history.map((h) => h.valNdcg100));
    state = { ...state, gridRuns: [...gridRuns, { model, cell, seed, modelId: trainedRow.id, bestValNdcg100: best }] };
    writeState(stateFile, state);
    await recordExperimentProgress(dataSource, { id: experimentId, owner, runsDone: doneRuns() });
    trained += 1;
    options.onProgress?.({ done: i + 1, total: cells.length, model: `grid ${model} ${settingsText(Object.entries(cell))}`, seed, etaSeconds: null });
  }
  const written = await writeReport({ dir: options.outDir, state, datasetName: matrices.name, users: matrices.userIds.length, items: matrices.itemIds.length });
  return { ...written, runs: state.runs.filter((r) => r.mode === "vcm").length, trained };
  }
}

/**
 * report.md (Figure 4 and Table 2 for VCM and VCM-CD, Table 3's cohorts, Figure 2's curves), a CSV per
 * table and the figures as SVG and PNG.
 */
async function writeReport(o: { dir: string; state: ExperimentFile; datasetName: string; users: number; items: number }): Promise<{ report: string; results: Record<string, unknown> }> {
  const { args } = o.state;
  const settings = settingsSection(o.state);
  const tuning = tuningSection(o.dir, o.state);
  const results: Record<string, unknown> = { settings: settings.json, ...(tuning === undefined ? {} : { tuning: tuning.json }) };
  // Every figure drawn into the report, kept with the results so the API serves the same specs (experimentFigures).
  const figures: ReportFigure[] = [];
  const draw = async (figure: ReportFigure): Promise<void> => {
    await writePlot({ dir: o.dir, name: figure.name, spec: figure.spec });
    figures.push(figure);
  };
  const models = args.models as ReadonlyArray<string>;
  const lines: string[] = [
    `# Experiment on "${o.datasetName}"`,
    "",
    `Models ${models.join(", ")}; seeds 1–${args.seeds}. Dataset: ${o.users} users × ${o.items} items. Written ${new Date().toISOString()}.`,
    "",
    ...settings.lines,
    ...(tuning?.lines ?? []),
    `Each cell: mean over seeds ± standard error; † where a paired t-test over users (each user's value averaged over seeds) against the best other model gives p < 0.01.`,
    "",
  ];
  for (const mode of ["vcm", "vcm-cd"] as const) {
    const runs = o.state.runs.filter((r) => r.mode === mode);
    const present = models.filter((m) => runs.some((r) => r.model === m));
    if (present.length === 0) continue;
    const table = resultTable({ runs, models: present, metrics: METRIC_NAMES });
    results[mode] = Object.fromEntries(present.map((model) => [model, Object.fromEntries(METRIC_NAMES.map((m) => [m, jsonCell(table.get(m)!.get(model)!)]))]));
    lines.push(`## ${mode === "vcm" ? "VCM (from clicks)" : "VCM-CD (from text alone)"}: NDCG@R and Recall@R (the paper's Figure 4 and Table 2)`, "");
    lines.push(`| model | ${METRIC_NAMES.join(" | ")} |`, `|---|${METRIC_NAMES.map(() => "---").join("|")}|`);
    const csv = [["model", ...METRIC_NAMES.flatMap((m) => [m, `${m} se`, `${m} p`])].join(",")];
    for (const model of present) {
      lines.push(`| ${model} | ${METRIC_NAMES.map((m) => formatCell(table.get(m)!.get(model))).join(" | ")} |`);
      csv.push([model, ...METRIC_NAMES.flatMap((m) => {
        const c = table.get(m)!.get(model)!;
        return [c.mean, c.standardError, c.pValue].map((v) => (Number.isNaN(v) ? "" : String(v)));
      })].join(","));
    }
    fs.writeFileSync(path.join(o.dir, `metrics-${mode}.csv`), `${csv.join("\n")}\n`);
    const bars = present.flatMap((model) =>
      METRIC_NAMES.map((name) => {
        const c = table.get(name)!.get(model)!;
        const se = Number.isNaN(c.standardError) ? 0 : c.standardError;
        const [metric, cutoff] = name.split("@");
        return { model, metric: metric === "ndcg" ? "NDCG@R" : "Recall@R", cutoff: Number(cutoff), mean: c.mean, low: c.mean - se, high: c.mean + se };
      }),
    );
    await draw(reportFigure(`figure4-${mode}`, metricsSpec({ title: mode === "vcm" ? "VCM: test NDCG@R and Recall@R" : "VCM-CD (text alone): test NDCG@R and Recall@R", rows: bars })));
    lines.push("", `![${mode}](figure4-${mode}.svg)`, "");
  }
  lines.push(...beyondAccuracyTable(o.dir, models, o.state.runs.filter((r) => r.mode === "vcm")));
  lines.push(...cohortTable(o.dir, o.state.runs.filter((r) => r.mode === "vcm")));
  lines.push(...(await gridTables({ dir: o.dir, args, runs: o.state.gridRuns ?? [], draw })));
  // Figure 2: validation NDCG@100 per epoch, mean over seeds.
  const curves = models.map((m) => {
    const runs = o.state.runs.filter((r) => r.mode === "vcm" && r.model === m && r.curve.length > 0);
    const epochs = Math.max(0, ...runs.map((r) => r.curve.length));
    return { model: m, values: Array.from({ length: epochs }, (_, e) => { const at = runs.filter((r) => r.curve.length > e); return at.reduce((s, r) => s + r.curve[e], 0) / at.length; }) };
  }).filter((c) => c.values.length > 0);
  if (curves.length > 0) {
    const epochs = Math.max(...curves.map((c) => c.values.length));
    lines.push("## Validation NDCG@100 per epoch, mean over seeds (the paper's Figure 2)", "", `| epoch | ${curves.map((c) => c.model).join(" | ")} |`, `|---|${curves.map(() => "---").join("|")}|`);
    const csv = [["epoch", ...curves.map((c) => c.model)].join(",")];
    for (let e = 0; e < epochs; e += 1) {
      lines.push(`| ${e + 1} | ${curves.map((c) => (e < c.values.length ? c.values[e].toFixed(4) : "–")).join(" | ")} |`);
      csv.push([e + 1, ...curves.map((c) => (e < c.values.length ? String(c.values[e]) : ""))].join(","));
    }
    fs.writeFileSync(path.join(o.dir, "validation-curves.csv"), `${csv.join("\n")}\n`);
    await draw(reportFigure("figure2", curvesSpec(curves.flatMap((c) => c.values.map((value, e) => ({ model: c.model, epoch: e + 1, value }))))));
    lines.push("", "![validation curves](figure2.svg)", "");
  }
  const report = path.join(o.dir, "report.md");
  fs.writeFileSync(report, `${lines.join("\n")}\n`);
  return { report, results: { ...results, [RESULTS_FIGURES_KEY]: figures } };
}

/** A result cell for JSON (no NaN there: null). */
function jsonCell(c: ResultCell): Record<string, number | boolean | null> {
  const n = (v: number) => (Number.isNaN(v) ? null : v);
  return { mean: n(c.mean), standardError: n(c.standardError), pValue: n(c.pValue), significant: c.significant };
}

/** Coverage, ARP, APLT and novelty at 10 per model (VCM mode), mean over seeds, as a table and a CSV. */
function beyondAccuracyTable(dir: string, models: ReadonlyArray<string>, runs: ReadonlyArray<RunResult>): string[] {
  const keys = ["coverage", "arp", "aplt", "novelty"] as const;
  const present = models.filter((m) => runs.some((r) => r.model === m && r.beyondAccuracy !== undefined));
  if (present.length === 0) return [];
  const cohorts = ["head", "torso", "tail"] as const;
  const shares = `${DEFAULT_ITEM_SHARES.head * 100} % / ${Math.round((1 - DEFAULT_ITEM_SHARES.head - DEFAULT_ITEM_SHARES.tail) * 100)} % / ${DEFAULT_ITEM_SHARES.tail * 100} %`;
  const lines = [
    `## Beyond accuracy at ${BEYOND_ACCURACY_K}: catalogue coverage, ARP, APLT, novelty, and Recall@${ITEM_COHORT_K} by item popularity (head / torso / tail at ${shares} of training clicks); mean over seeds (docs/model.md)`,
    "",
    `| model | coverage | ARP | APLT | novelty | Recall@${ITEM_COHORT_K} head | torso | tail |`,
    "|---|---|---|---|---|---|---|---|",
  ];
  const csv = [`model,coverage,arp,aplt,novelty,recall${ITEM_COHORT_K}_head,recall${ITEM_COHORT_K}_torso,recall${ITEM_COHORT_K}_tail`];
  const meanOf = (seen: ReadonlyArray<number | null | undefined>) => {
    const defined = seen.filter((v): v is number => typeof v === "number");
    return defined.length === 0 ? Number.NaN : defined.reduce((a, b) => a + b, 0) / defined.length;
  };
  for (const model of present) {
    const own = runs.filter((r) => r.model === model);
    const values = [...keys.map((key) => meanOf(own.map((r) => r.beyondAccuracy?.[key]))), ...cohorts.map((c) => meanOf(own.map((r) => r.itemCohortRecall?.[c])))];
    const f = (v: number, d: number) => (Number.isNaN(v) ? "–" : v.toFixed(d));
    lines.push(`| ${model} | ${f(values[0], 4)} | ${f(values[1], 1)} | ${f(values[2], 4)} | ${f(values[3], 3)} | ${values.slice(4).map((v) => f(v, 4)).join(" | ")} |`);
    csv.push([model, ...values.map((v) => (Number.isNaN(v) ? "" : String(v)))].join(","));
  }
  fs.writeFileSync(path.join(dir, "beyond-accuracy.csv"), `${csv.join("\n")}\n`);
  lines.push("");
  return lines;
}

/**
 * Table 3: the test users cut into DEFAULT_COHORT_GROUPS activity cohorts of equal training clicks, with mean
 * ĉu and NDCG@10 of VCM and VCM-Se (each user's value averaged over seeds) and VCM's relative change.
 */
function cohortTable(dir: string, runs: ReadonlyArray<RunResult>): string[] {
  const vcm = runs.filter((r) => r.model === "vcm" && r.capacity !== undefined);
  const se = runs.filter((r) => r.model === "vcm-se" && r.capacity !== undefined);
  if (vcm.length === 0 || se.length === 0) return [];
  const activity = vcm[0].activity!;
  const boundaries = cohortBoundaries({ activity, grouping: "EQUAL_INTERACTIONS", groups: DEFAULT_COHORT_GROUPS });
  const cohorts = boundaries.length + 1;
  const average = (rs: ReadonlyArray<RunResult>, values: (r: RunResult) => ReadonlyArray<number>) =>
    activity.map((_, u) => rs.reduce((s, r) => s + values(r)[u], 0) / rs.length);
  const figures = [vcm, se].map((rs) => ({ capacity: average(rs, (r) => r.capacity!), ndcg: average(rs, (r) => r.perUser["ndcg@10"]) }));
  const mean = (values: ReadonlyArray<number>, j: number) => {
    let sum = 0;
    let n = 0;
    activity.forEach((a, u) => {
      if (cohortIndex(a, boundaries) === j && Number.isFinite(values[u])) {
        sum += values[u];
        n += 1;
      }
    });
    return n === 0 ? Number.NaN : sum / n;
  };
  const lines = [`## Activity cohorts, VCM against VCM-Se (the paper's Table 3; ${DEFAULT_COHORT_GROUPS} groups of equal training clicks, ties kept together)`, "", "| training clicks | users | ĉu VCM | ĉu VCM-Se | NDCG@10 VCM | NDCG@10 VCM-Se | NDCG@10 change |", "|---|---|---|---|---|---|---|"];
  const csv = ["cohort,users,capacity_vcm,capacity_vcm_se,ndcg10_vcm,ndcg10_vcm_se,ndcg10_change"];
  for (let j = 0; j < cohorts; j += 1) {
    const label = cohortLabel({ minClicks: j === 0 ? 0 : boundaries[j - 1], maxClicks: j === boundaries.length ? null : boundaries[j] - 1 });
    const users = activity.filter((a) => cohortIndex(a, boundaries) === j).length;
    const [cv, cs, nv, ns] = [mean(figures[0].capacity, j), mean(figures[1].capacity, j), mean(figures[0].ndcg, j), mean(figures[1].ndcg, j)];
    const change = ns > 0 ? (nv - ns) / ns : Number.NaN;
    const f = (v: number, d: number) => (Number.isNaN(v) ? "–" : v.toFixed(d));
    lines.push(`| ${label} | ${users} | ${f(cv, 2)} | ${f(cs, 2)} | ${f(nv, 4)} | ${f(ns, 4)} | ${Number.isNaN(change) ? "–" : `${(change * 100).toFixed(1)} %`} |`);
    csv.push([label, users, cv, cs, nv, ns, change].map((v) => (typeof v === "number" && Number.isNaN(v) ? "" : String(v))).join(","));
  }
  fs.writeFileSync(path.join(dir, "cohorts.csv"), `${csv.join("\n")}\n`);
  lines.push("");
  return lines;
}

/**
 * Figure 3, per model trained over a grid: best validation NDCG@100 per cell, mean over seeds, as a table
 * and a CSV (grid-MODEL.csv), and over two axes as a matrix and a heat map (figure3-MODEL).
 */
async function gridTables(o: { dir: string; args: ExperimentArgs; runs: ReadonlyArray<GridRun>; draw: (figure: ReportFigure) => Promise<void> }): Promise<string[]> {
  const { dir, args, runs } = o;
  const lines: string[] = [];
  const text = (v: number) => (Number.isNaN(v) ? "–" : v.toFixed(4));
  for (const model of args.models) {
    const axes = gridAxesOf(args.grid, model);
    if (axes.length === 0) continue;
    const mean = (cell: GridCell) => {
      const at = runs.filter((r) => r.model === model && axes.every((name) => r.cell[name] === cell[name]));
      return at.length === 0 ? Number.NaN : at.reduce((s, r) => s + r.bestValNdcg100, 0) / at.length;
    };
    lines.push(`## Sensitivity of ${model} to ${axes.join(" × ")}: best validation NDCG@100, mean over seeds (the paper's Figure 3)`, "");
    const csv: string[] = [];
    if (axes.length === 2) {
      const [rowAxis, columnAxis] = axes;
      const columns = args.grid![columnAxis];
      lines.push(`| ${rowAxis} \\ ${columnAxis} | ${columns.join(" | ")} |`, `|---|${columns.map(() => "---").join("|")}|`);
      csv.push([rowAxis, ...columns.map((c) => `${columnAxis}=${c}`)].join(","));
      const points: Array<{ row: number; column: number; value: number }> = [];
      for (const row of args.grid![rowAxis]) {
        const values = columns.map((column) => mean({ [rowAxis]: row, [columnAxis]: column }));
        lines.push(`| ${row} | ${values.map(text).join(" | ")} |`);
        csv.push([row, ...values.map((v) => (Number.isNaN(v) ? "" : String(v)))].join(","));
        columns.forEach((column, j) => points.push({ row, column, value: values[j] }));
      }
      const title = `${model}: best validation NDCG@100 over ${rowAxis} × ${columnAxis} (mean over seeds)`;
      await o.draw(reportFigure(`figure3-${model}`, gridSpec({ title, rows: points.filter((p) => !Number.isNaN(p.value)), rowTitle: rowAxis, columnTitle: columnAxis })));
      lines.push("", `![${model} grid](figure3-${model}.svg)`, "");
    } else {
      lines.push(`| ${axes.join(" | ")} | best validation NDCG@100 |`, `|${axes.map(() => "---").join("|")}|---|`);
      csv.push([...axes, "best_val_ndcg100"].join(","));
      for (const cell of gridCellsOf(args.grid, model)) {
        const value = mean(cell);
        lines.push(`| ${axes.map((name) => cell[name]).join(" | ")} | ${text(value)} |`);
        csv.push([...axes.map((name) => cell[name]), Number.isNaN(value) ? "" : value].join(","));
      }
      lines.push("");
    }
    fs.writeFileSync(path.join(dir, `grid-${model}.csv`), `${csv.join("\n")}\n`);
  }
  return lines;
}

/** Each model's settings other than its defaults, as a report section, and as JSON (model → field → value). */
function settingsSection(state: ExperimentFile): { lines: string[]; json: Record<string, Record<string, unknown>> } {
  const { args } = state;
  const lines = [
    "## Settings",
    "",
    `Each model's settings other than its own defaults (docs/cli.md, the config tables; seeds aside)${args.tune === undefined ? "" : ", tuned values included"}; grid runs add their cell's values and are not tuned.`,
    "",
    "| model | settings |",
    "|---|---|",
  ];
  const json: Record<string, Record<string, unknown>> = {};
  for (const model of args.models) {
    const settings = nonDefaultSettings(runConfig(args, model, tunedSettings(state, model)));
    json[model] = Object.fromEntries(settings);
    const readsAny = Object.keys(DEFAULT_VCM_CONFIG).some((name) => readsField(model, name));
    lines.push(`| ${model} | ${readsAny ? settingsText(settings) : "none: it reads no setting"} |`);
  }
  if (args.grid !== undefined) lines.push("", `Grids: ${Object.entries(args.grid).map(([name, values]) => `${name} ∈ {${values.join(", ")}}`).join("; ")}.`);
  lines.push("");
  return { lines, json };
}

/**
 * The tuning of each model (`--tune`): the space searched, every trial with its best validation NDCG@100,
 * and the values chosen, as a report section, tuning.csv and JSON; undefined when untuned.
 */
function tuningSection(dir: string, state: ExperimentFile): { lines: string[]; json: Record<string, unknown> } | undefined {
  const { args } = state;
  if (args.tune === undefined) return undefined;
  const lines = [
    "## Tuning",
    "",
    `Per model, ${args.tune} trials of a random search (seed ${TUNE_SEED}; trial 1 is the untuned settings), each trained with seed 1 and early stopping (patience ${String(args.config?.patience ?? TUNE_PATIENCE)}) and scored by its best validation NDCG@100; the best trial's values are then trained with every seed above.`,
    "",
  ];
  const csv = ["model,trial,settings,best_val_ndcg100,chosen"];
  const json: Record<string, unknown> = {};
  for (const model of args.models) {
    const space = tuneSpaceOf(args, model);
    if (space.length === 0) {
      lines.push(`- ${model}: nothing to tune (it reads no tuned setting, or each is fixed).`);
      continue;
    }
    const trials = state.tuning?.[model] ?? [];
    const best = bestTrial(trials);
    const num = (v: number) => v.toLocaleString("en-US", { maximumSignificantDigits: 3 });
    const spaceText = space.map((a) => `${a.name} ${num(a.min)}–${num(a.max)} (${a.scale})`).join(", ");
    lines.push(`### ${model}`, "", `Space: ${spaceText}. Chosen: ${best === undefined ? "–" : trialText(best)}.`, "", "| trial | settings | best validation NDCG@100 |", "|---|---|---|");
    trials.forEach((trial, t) => {
      const mark = trial === best ? " (chosen)" : "";
      lines.push(`| ${t + 1}${mark} | ${trialText(trial)} | ${Number.isFinite(trial.score) ? trial.score.toFixed(4) : "–"} |`);
      csv.push([model, t + 1, `"${trialText(trial)}"`, Number.isFinite(trial.score) ? trial.score : "", trial === best].join(","));
    });
    lines.push("");
    json[model] = {
      space: space.map((a) => ({ name: a.name, min: a.min, max: a.max, scale: a.scale })),
      trials: trials.map((t) => ({ settings: t.settings, bestValNdcg100: Number.isFinite(t.score) ? t.score : null })),
      chosen: best?.settings ?? null,
    };
  }
  lines.push("");
  fs.writeFileSync(path.join(dir, "tuning.csv"), `${csv.join("\n")}\n`);
  return { lines, json };
}

/** A trial's settings in words; the first trial's are the experiment's own, untuned. */
function trialText(trial: TuneTrial): string {
  return Object.keys(trial.settings).length === 0 ? "untuned: the given settings" : settingsText(Object.entries(trial.settings));
}
