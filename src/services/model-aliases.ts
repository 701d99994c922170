/**
 * Model aliases and A/B splits (issue 26, item 7): a name of a dataset, such as "production", that
 * serves one READY model of that dataset, or sends a stable share of the dataset's users to a candidate
 * model. Every server reads the aliases from the database and reads them again once its commit watch
 * says another process committed, so a change made on one server (or by `vcm alias`) is served by every
 * server before its next request. With serving logged, aliasReport adds each arm's online hit rate.
 */
import { createHash } from "node:crypto";
import type { DataSource } from "typeorm";
import type { Dataset } from "../db/entities/dataset.entity.ts";
import { isTransientDatabaseError, retryWhileBusyOrUnavailable } from "../db/busy.ts";
import { datasetsByName } from "../db/dataset-rows.ts";
import { countServedHits, deleteModelAlias, insertServedItems, listModelAliases, pruneServedItems, upsertModelAlias, type ModelAliasRow } from "../db/model-aliases.ts";
import { findModel } from "../db/model-rows.ts";
import { pairedTTest } from "../engine/stats.ts";
import { ErrorCode, UserError } from "../errors.ts";

/** Longest alias name, in characters. */
export const MAX_ALIAS_NAME_LENGTH = 64;
/** What an alias may hold: letters, digits, dot, dash and underscore, starting with a letter (so it never reads as a model id). */
const ALIAS_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._-]*$/;
/** How many days served items are kept in the serving log before they are deleted. */
export const SERVING_LOG_DAYS = 30;
/** How often, at most, a server deletes served items past SERVING_LOG_DAYS (when it logs one). */
const PRUNE_EVERY_MS = 3_600_000;
/** How long an answer waits for its serving-log write while the database is locked or restarting; then it is served unlogged. */
export const SERVING_LOG_WAIT_MS = 1_000;

/** Checks an alias name: 1 to MAX_ALIAS_NAME_LENGTH letters, digits, `.`, `-` or `_`, starting with a letter. */
export function checkAliasName(name: string): string {
  if (name.length === 0 || name.length > MAX_ALIAS_NAME_LENGTH || !ALIAS_NAME_PATTERN.test(name)) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `An alias is 1 to ${MAX_ALIAS_NAME_LENGTH} letters, digits, ".", "-" or "_", starting with a letter; got ${JSON.stringify(name.slice(0, MAX_ALIAS_NAME_LENGTH + 8))}.`,
    );
  }
  return name;
}

/** Checks a candidate's share of users: a number from 0 to 1. */
export function checkShare(share: number): number {
  if (!Number.isFinite(share) || share < 0 || share > 1) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `A candidate's share is a number from 0 to 1 (0.1 sends a tenth of the users to it), got ${share}.`);
  }
  return share;
}

/**
 * Where a user falls in [0, 1) for an alias: the first 32 bits of SHA-256 over the dataset's name, the
 * alias and the user's external id, so the same user gets the same arm on every server and every day.
 */
export function splitPoint(key: { dataset: string; alias: string; user: string }): number {
  return createHash("sha256").update(`${key.dataset}\n${key.alias}\n${key.user}`).digest().readUInt32BE(0) / 2 ** 32;
}

/** Which arm of an alias serves a user. */
export type AliasArm = "model" | "candidate";

/** The model an alias serves a user (the candidate when the user's split point is under its share). */
export function armOf(alias: ModelAliasRow & { readonly datasetName: string }, user: string | null): { arm: AliasArm; modelId: number } {
  if (alias.candidateModelId === null || user === null) return { arm: "model", modelId: alias.modelId };
  return splitPoint({ dataset: alias.datasetName, alias: alias.name, user }) < alias.candidateShare
    ? { arm: "candidate", modelId: alias.candidateModelId }
    : { arm: "model", modelId: alias.modelId };
}

/** An alias as the API and the CLI show it. */
export interface ModelAliasSummary {
  readonly dataset: string;
  readonly datasetId: number;
  readonly alias: string;
  readonly modelId: number;
  readonly candidateModelId: number | null;
  readonly candidateShare: number;
  readonly logServing: boolean;
  readonly updated: string;
}

function summaryOf(row: ModelAliasRow, datasetName: string): ModelAliasSummary {
  return {
    dataset: datasetName,
    datasetId: row.datasetId,
    alias: row.name,
    modelId: row.modelId,
    candidateModelId: row.candidateModelId,
    candidateShare: row.candidateShare,
    logServing: row.logServing,
    updated: new Date(row.updatedAt).toISOString(),
  };
}

async function requireDatasetNamed(dataSource: DataSource, name: string): Promise<Dataset> {
  const dataset = (await datasetsByName(dataSource)).find((d) => d.name === name);
  if (dataset === undefined) throw new UserError(ErrorCode.NOT_FOUND, `No dataset is named "${name}"; vcm datasets (or the query \`datasets { name }\`) lists them.`);
  return dataset;
}

/** NOT_FOUND unless the model exists, is READY and was trained on the dataset. */
async function requireReadyModelOf(dataSource: DataSource, options: { modelId: number; dataset: Pick<Dataset, "id" | "name">; alias: string }): Promise<void> {
  const row = await findModel(dataSource, options.modelId);
  if (row === null || row.status !== "ready" || row.datasetId !== options.dataset.id) {
    const why = row === null ? "no model has that id" : row.status !== "ready" ? `it is ${row.status}` : "it was trained on another dataset";
    throw new UserError(
      ErrorCode.NOT_FOUND,
      `Alias "${options.alias}" cannot name model ${options.modelId}: ${why}. An alias names a READY model of dataset "${options.dataset.name}" (vcm models --dataset ${options.dataset.name} lists them).`,
    );
  }
}

/** Creates or replaces an alias of a dataset. NOT_FOUND for a dataset or a model that is not a READY model of it; BAD_USER_INPUT for a bad name or share. */
export async function setModelAlias(
  dataSource: DataSource,
  input: { dataset: string; alias: string; modelId: number; candidate?: { modelId: number; share: number } | null; logServing?: boolean },
): Promise<ModelAliasSummary> {
  const alias = checkAliasName(input.alias);
  const candidate = input.candidate ?? null;
  if (candidate !== null) checkShare(candidate.share);
  if (candidate !== null && candidate.modelId === input.modelId) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `The candidate of alias "${alias}" is its model ${input.modelId} itself; name another model, or leave the candidate out.`);
  }
  const dataset = await requireDatasetNamed(dataSource, input.dataset);
  await requireReadyModelOf(dataSource, { modelId: input.modelId, dataset, alias });
  if (candidate !== null) await requireReadyModelOf(dataSource, { modelId: candidate.modelId, dataset, alias });
  const row = { datasetId: dataset.id, name: alias, modelId: input.modelId, candidateModelId: candidate?.modelId ?? null, candidateShare: candidate?.share ?? 0, logServing: input.logServing ?? false };
  await upsertModelAlias(dataSource, row);
  return summaryOf({ ...row, updatedAt: new Date() }, dataset.name);
}

/** Removes an alias of a dataset (its serving log stays until its retention ends); NOT_FOUND when there is none. */
export async function removeModelAlias(dataSource: DataSource, input: { dataset: string; alias: string }): Promise<void> {
  const alias = checkAliasName(input.alias);
  const dataset = await requireDatasetNamed(dataSource, input.dataset);
  if (!(await deleteModelAlias(dataSource, { datasetId: dataset.id, name: alias }))) {
    throw new UserError(ErrorCode.NOT_FOUND, `Dataset "${dataset.name}" has no alias "${alias}"; vcm alias list shows the aliases.`);
  }
}

/** Every alias, by dataset then name (of one dataset when named). */
export async function listAliases(dataSource: DataSource, dataset?: string | null): Promise<ModelAliasSummary[]> {
  const names = new Map((await datasetsByName(dataSource)).map((d) => [d.id, d.name]));
  const only = dataset === undefined || dataset === null ? null : (await requireDatasetNamed(dataSource, dataset)).id;
  return (await listModelAliases(dataSource)).filter((row) => only === null || row.datasetId === only).map((row) => summaryOf(row, names.get(row.datasetId) ?? String(row.datasetId)));
}

/** An alias row with its dataset's name, as the directory holds it. */
export type ResolvedAlias = ModelAliasRow & { readonly datasetName: string };

/**
 * One server's view of the aliases: all rows, read again when the commit watch's count moved (another
 * process committed) or this server changed one; the read is shared by the requests that wait for it.
 */
export class ModelAliasDirectory {
  readonly #dataSource: DataSource;
  readonly #version: () => number;
  #held: { version: number; rows: Promise<ReadonlyArray<ResolvedAlias>> } | undefined;
  #prunedAt = 0;

  constructor(options: { dataSource: DataSource; version: () => number }) {
    this.#dataSource = options.dataSource;
    this.#version = options.version;
  }

  /** Forgets what was read (after this server changed an alias: its own commits do not move the watch). */
  invalidate(): void {
    this.#held = undefined;
  }

  async #rows(): Promise<ReadonlyArray<ResolvedAlias>> {
    const version = this.#version();
    if (this.#held === undefined || this.#held.version !== version) this.#held = { version, rows: this.#read(version) };
    return this.#held.rows;
  }

  async #read(version: number): Promise<ReadonlyArray<ResolvedAlias>> {
    try {
      const names = new Map((await datasetsByName(this.#dataSource)).map((d) => [d.id, d.name]));
      return (await listModelAliases(this.#dataSource)).map((row) => ({ ...row, datasetName: names.get(row.datasetId) ?? String(row.datasetId) }));
    } catch (error) {
      // A failed read (the database is down) is not kept: the next request reads again.
      if (this.#held?.version === version) this.#held = undefined;
      throw error;
    }
  }

  /**
   * The alias of that name in a dataset (by id), or in the only dataset that has one of that name when
   * no dataset is given. NOT_FOUND when there is none; BAD_USER_INPUT when several datasets have it.
   */
  async resolve(options: { name: string; datasetId?: number | null; datasetName?: string | null }): Promise<ResolvedAlias> {
    const name = checkAliasName(options.name);
    const matches = (await this.#rows()).filter(
      (row) => row.name === name && (options.datasetId == null || row.datasetId === options.datasetId) && (options.datasetName == null || row.datasetName === options.datasetName),
    );
    if (matches.length === 0) {
      const where = options.datasetName != null ? ` of dataset "${options.datasetName}"` : options.datasetId != null ? " of this dataset" : "";
      throw new UserError(ErrorCode.NOT_FOUND, `No model alias "${name}"${where} exists; the query \`modelAliases { dataset alias }\` (or vcm alias list) lists them.`);
    }
    if (matches.length > 1) {
      throw new UserError(ErrorCode.BAD_USER_INPUT, `Datasets ${matches.map((m) => `"${m.datasetName}"`).join(" and ")} each have an alias "${name}"; say which with the dataset argument.`);
    }
    return matches[0];
  }

  /**
   * Writes the items an alias served a user to the serving log (and, at most hourly, deletes items past
   * the retention). The log never costs an answer: when the database stays locked (a long ingest on
   * SQLite) or unreachable for SERVING_LOG_WAIT_MS, the rows are dropped and false is returned.
   */
  async logServed(served: { alias: ResolvedAlias; modelId: number; userId: number; itemColumns: ReadonlyArray<number> }): Promise<boolean> {
    const write = async () => {
      await insertServedItems(this.#dataSource, { datasetId: served.alias.datasetId, alias: served.alias.name, modelId: served.modelId, userId: served.userId, itemColumns: served.itemColumns });
      const now = Date.now();
      if (now - this.#prunedAt >= PRUNE_EVERY_MS) {
        await pruneServedItems(this.#dataSource, SERVING_LOG_DAYS);
        this.#prunedAt = now;
      }
    };
    try {
      await retryWhileBusyOrUnavailable(write, { maxMs: SERVING_LOG_WAIT_MS, pauseMs: 50 });
      return true;
    } catch (error) {
      if (isTransientDatabaseError(error)) return false;
      throw error;
    }
  }
}

/** Per-user test figures of a model, in the same user order for every model of a dataset (NaN: no test items). */
export interface PerUserFigures {
  readonly ndcg10: ArrayLike<number>;
  readonly recall20: ArrayLike<number>;
}

/** One arm of an alias report. */
export interface AliasArmReport {
  readonly arm: AliasArm;
  readonly modelId: number;
  /** Share of users this arm serves. */
  readonly share: number;
  /** Test users with held-out clicks (the means are over them). */
  readonly testUsers: number;
  /** Mean NDCG@10 over the test users (null when there are none). */
  readonly ndcg10: number | null;
  readonly recall20: number | null;
  /** Distinct (user, item) pairs this arm served through the alias that are still in the serving log. */
  readonly served: number;
  /** Of those, pairs the user clicked after they were first served (appended clicks). */
  readonly hits: number;
  /** hits / served, or null when nothing was logged. */
  readonly hitRate: number | null;
}

/** The paper's paired t-test of candidate − model on one metric over the test users of both. */
export interface AliasComparison {
  readonly metric: string;
  readonly users: number;
  readonly meanModel: number;
  readonly meanCandidate: number;
  /** meanCandidate − meanModel. */
  readonly difference: number;
  readonly statistic: number;
  readonly df: number;
  readonly pValue: number;
}

export interface AliasReport {
  readonly alias: ModelAliasSummary;
  readonly arms: ReadonlyArray<AliasArmReport>;
  /** NDCG@10 and Recall@20 compared (empty without a candidate). */
  readonly comparisons: ReadonlyArray<AliasComparison>;
  /** How many days the serving log keeps (SERVING_LOG_DAYS). */
  readonly servingLogDays: number;
}

function meanOfFinite(values: ArrayLike<number>): { mean: number | null; count: number } {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < values.length; i += 1) {
    if (Number.isFinite(values[i])) {
      sum += values[i];
      count += 1;
    }
  }
  return { mean: count === 0 ? null : sum / count, count };
}

/**
 * Both arms' offline test figures over the same test users, the paired t-test of the candidate against
 * the model, and each arm's online hit rate from the serving log. `evaluate` gives a model's per-user
 * figures (the server's cached cohort evaluation, or a fresh evaluation in the CLI).
 */
export async function aliasReport(options: {
  dataSource: DataSource;
  alias: ResolvedAlias;
  evaluate: (modelId: number) => Promise<PerUserFigures>;
}): Promise<AliasReport> {
  const { alias } = options;
  const arms: Array<{ arm: AliasArm; modelId: number; share: number }> = [{ arm: "model", modelId: alias.modelId, share: alias.candidateModelId === null ? 1 : 1 - alias.candidateShare }];
  if (alias.candidateModelId !== null) arms.push({ arm: "candidate", modelId: alias.candidateModelId, share: alias.candidateShare });
  for (const arm of arms) await requireReadyModelOf(options.dataSource, { modelId: arm.modelId, dataset: { id: alias.datasetId, name: alias.datasetName }, alias: alias.name });
  const figures: PerUserFigures[] = [];
  for (const arm of arms) figures.push(await options.evaluate(arm.modelId));
  const hits = new Map((await countServedHits(options.dataSource, { datasetId: alias.datasetId, alias: alias.name })).map((h) => [h.modelId, h]));
  const comparisons: AliasComparison[] = [];
  if (figures.length === 2) {
    for (const [metric, key] of [
      ["ndcg@10", "ndcg10"],
      ["recall@20", "recall20"],
    ] as const) {
      const test = pairedTTest({ a: figures[1][key], b: figures[0][key] });
      comparisons.push({ metric, users: test.users, meanModel: test.meanB, meanCandidate: test.meanA, difference: test.difference, statistic: test.statistic, df: test.df, pValue: test.pValue });
    }
  }
  return {
    alias: summaryOf(alias, alias.datasetName),
    arms: arms.map((arm, i) => {
      const ndcg = meanOfFinite(figures[i].ndcg10);
      const served = hits.get(arm.modelId)?.served ?? 0;
      const hit = hits.get(arm.modelId)?.hits ?? 0;
      return { ...arm, testUsers: ndcg.count, ndcg10: ndcg.mean, recall20: meanOfFinite(figures[i].recall20).mean, served, hits: hit, hitRate: served === 0 ? null : hit / served };
    }),
    comparisons,
    servingLogDays: SERVING_LOG_DAYS,
  };
}
