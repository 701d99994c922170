/**
 * Exports for the tools analysts already use (issue 10, §4): a dataset as RecBole atomic files (our
 * exact split, so another toolkit trains on the same data) or plain TSVs; every user's
 * recommendations with titles and explanation words as CSV or JSON lines; a model's cohort table as
 * CSV or Markdown; a model's per-user test metrics as CSV, so any grouping can be done outside. Files are written row by row through a stream that waits when the disk is slower,
 * never built whole in memory.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { once } from "node:events";
import { stringify } from "csv-stringify/sync";
import type { DataSource } from "typeorm";
import type { CsrMatrix, DatasetMatrices } from "../data/csr.ts";
import { itemMetadataRows } from "../db/items.ts";
import { loadDatasetMatrices } from "../db/load-dataset-matrices.ts";
import { capabilitiesOf, type Variant } from "../engine/types.ts";
import { ErrorCode, invariant, isStorageFullError, storageFullMessage, UserError } from "../errors.ts";
import { beyondPerUser, type CohortAnalysis } from "./cohorts.ts";
import type { ExplanationRule } from "../engine/explanation-rules.ts";
import type { PredictionServiceSet } from "./prediction-services.ts";

export type DatasetExportFormat = "recbole" | "tsv";
export type RecommendationExportFormat = "csv" | "jsonl";
export type CohortExportFormat = "csv" | "md";

/** One file written, with its rows (header lines not counted). */
export interface ExportedFile {
  readonly file: string;
  readonly rows: number;
}

/** Users per batch of recommendations: one forward pass and one explanation pass each; a shard of a sharded export is a whole number of them. */
export const RECOMMENDATION_BATCH_USERS = 256;

/**
 * A file written line by line, waiting for the stream to drain when its buffer is full. It is written
 * under a temporary name in the same folder and only renamed to its own by its ExportFiles group's
 * commit, so a full disk or a failure leaves no partial file and an older file of that name untouched.
 */
class LineFile {
  readonly #stream: fs.WriteStream;
  readonly file: string;
  readonly temp: string;
  rows = 0;
  /** The stream's first error (ENOSPC…), thrown by the next write; recorded so that none goes unhandled. */
  #failed: Error | undefined;

  constructor(file: string) {
    this.file = file;
    this.temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
    this.#stream = fs.createWriteStream(this.temp, { encoding: "utf8" });
    this.#stream.on("error", (error) => {
      this.#failed ??= error;
    });
  }

  /** A header line (not counted as a row). */
  header(text: string): Promise<void> {
    return this.#write(`${text}\n`);
  }

  line(text: string): Promise<void> {
    this.rows += 1;
    return this.#write(`${text}\n`);
  }

  /** Lines already joined, each ending in a newline (counted as rows). */
  run(text: string): Promise<void> {
    for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) this.rows += 1;
    return this.#write(text);
  }

  async #write(text: string): Promise<void> {
    if (this.#failed !== undefined) throw this.#failed;
    if (!this.#stream.write(text)) await once(this.#stream, "drain");
  }

  /** Flushes the temporary file to disk (still under its temporary name). */
  async close(): Promise<ExportedFile> {
    if (this.#failed !== undefined) throw this.#failed;
    this.#stream.end();
    await once(this.#stream, "finish");
    return { file: this.file, rows: this.rows };
  }

  /** Stops writing and removes the temporary file. */
  async discard(): Promise<void> {
    this.#stream.destroy();
    await fs.promises.rm(this.temp, { force: true });
  }
}

/**
 * The files of one export: each opened under a temporary name, all renamed to their own names at
 * the end, or all removed when the export fails (a full disk is then STORAGE_FULL naming the folder).
 */
async function writeExport<T>(o: { dir: string; write: (open: (file: string) => LineFile) => Promise<T> }): Promise<T> {
  const opened: LineFile[] = [];
  try {
    const result = await o.write((file) => {
      const out = new LineFile(file);
      opened.push(out);
      return out;
    });
    for (const out of opened) await fs.promises.rename(out.temp, out.file);
    return result;
  } catch (error) {
    for (const out of opened) await out.discard();
    if (isStorageFullError(error)) throw new UserError(ErrorCode.STORAGE_FULL, storageFullMessage(`The export folder ${path.resolve(o.dir)}`));
    throw error;
  }
}

/** Writes a whole text file (a cohort table) the same way: under a temporary name, renamed when complete. */
export async function writeExportFile(file: string, text: string): Promise<void> {
  await writeExport({
    dir: path.dirname(file),
    write: async (open) => {
      const out = open(file);
      await out.header(text.endsWith("\n") ? text.slice(0, -1) : text);
      await out.close();
    },
  });
}

/** Tabs and newlines would break a TSV or RecBole cell: they become spaces. */
function cell(text: string): string {
  return text.replace(/[\t\r\n]+/g, " ");
}

/** A RecBole token_seq cell: space-separated tokens, so spaces inside a token become underscores. */
function tokenSeq(tokens: ReadonlyArray<string>): string {
  return tokens.map((t) => cell(t).trim().replace(/ +/g, "_")).filter((t) => t !== "").join(" ");
}

/** Titles and categories by item column (null where the dataset has no metadata). */
async function itemMetadataByColumn(dataSource: DataSource, datasetId: number, items: number): Promise<{ titles: Array<string | null>; categories: Array<string[]> }> {
  const rows = await itemMetadataRows(dataSource, datasetId);
  const titles: Array<string | null> = new Array(items).fill(null);
  const categories: string[][] = Array.from({ length: items }, () => []);
  for (const row of rows) {
    titles[row.columnIndex] = row.title;
    categories[row.columnIndex] = row.categories ?? [];
  }
  return { titles, categories };
}

/** Refuses an output folder that exists as a file; creates it otherwise. */
function prepareFolder(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--out ${path.basename(dir)} is a file; name a folder for the exported files.`);
  }
  fs.mkdirSync(dir, { recursive: true });
}

/**
 * Writes a dataset. recbole: NAME.train.inter, NAME.valid.inter, NAME.test.inter (RecBole's
 * benchmark files: `benchmark_filename: [train, valid, test]` trains on exactly this split), NAME.item
 * (titles and categories), NAME.user (each user's bag of words, a word repeated by its count).
 * tsv: clicks.tsv (user, item, split), words.tsv (user, word, count), items.tsv (item, column, title,
 * categories), users.tsv (user, row).
 */
export async function exportDataset(options: {
  dataSource: DataSource;
  dataset: string;
  format: DatasetExportFormat;
  outDir: string;
  onProgress?: (message: string) => void;
}): Promise<{ dataset: string; format: DatasetExportFormat; files: ExportedFile[] }> {
  const matrices = await loadDatasetMatrices(options.dataSource, options.dataset);
  prepareFolder(options.outDir);
  const meta = await itemMetadataByColumn(options.dataSource, matrices.datasetId, matrices.itemIds.length);
  const files = await writeExport({
    dir: options.outDir,
    write: (open) => (options.format === "recbole" ? writeRecbole(matrices, meta, { ...options, open }) : writeTsv(matrices, meta, { ...options, open })),
  });
  return { dataset: matrices.name, format: options.format, files };
}

/**
 * A file-name stem for the dataset (RecBole names its files after the dataset) that stays inside the
 * export folder whatever the name: separators and odd characters become "_", and so do leading dots
 * (a dataset named ".." from before names were checked, or a hidden file).
 */
export function datasetFileStem(name: string): string {
  const safe = name.replace(/[^\p{L}\p{N}._-]+/gu, "_").replace(/^\.+/, (dots) => "_".repeat(dots.length));
  return safe === "" ? "dataset" : safe;
}

async function writeRecbole(
  m: DatasetMatrices,
  meta: { titles: Array<string | null>; categories: string[][] },
  o: { outDir: string; onProgress?: (message: string) => void; open: (file: string) => LineFile },
): Promise<ExportedFile[]> {
  const base = path.join(o.outDir, datasetFileStem(m.name));
  invariant(path.dirname(path.resolve(base)) === path.resolve(o.outDir), "an exported dataset's files stay in the export folder");
  const files: ExportedFile[] = [];
  for (const [split, matrix] of [
    ["train", m.train],
    ["valid", m.validation],
    ["test", m.test],
  ] as const) {
    o.onProgress?.(`writing ${path.basename(base)}.${split}.inter`);
    const out = o.open(`${base}.${split}.inter`);
    await out.header("user_id:token\titem_id:token\trating:float");
    await forEachEntry(matrix, async (row, col, value) => out.line(`${cell(m.userIds[row])}\t${cell(m.itemIds[col])}\t${value}`));
    files.push(await out.close());
  }
  o.onProgress?.(`writing ${path.basename(base)}.item`);
  const items = o.open(`${base}.item`);
  await items.header("item_id:token\ttitle:token_seq\tcategories:token_seq");
  for (let c = 0; c < m.itemIds.length; c += 1) await items.line(`${cell(m.itemIds[c])}\t${tokenSeq((meta.titles[c] ?? "").split(/\s+/))}\t${tokenSeq(meta.categories[c])}`);
  files.push(await items.close());
  o.onProgress?.(`writing ${path.basename(base)}.user`);
  const users = o.open(`${base}.user`);
  await users.header("user_id:token\twords:token_seq");
  for (let r = 0; r < m.userIds.length; r += 1) {
    const words: string[] = [];
    for (let p = m.words.indptr[r]; p < m.words.indptr[r + 1]; p += 1) for (let n = 0; n < m.words.values[p]; n += 1) words.push(m.vocabulary[m.words.indices[p]]);
    await users.line(`${cell(m.userIds[r])}\t${tokenSeq(words)}`);
  }
  files.push(await users.close());
  return files;
}

async function writeTsv(
  m: DatasetMatrices,
  meta: { titles: Array<string | null>; categories: string[][] },
  o: { outDir: string; onProgress?: (message: string) => void; open: (file: string) => LineFile },
): Promise<ExportedFile[]> {
  const files: ExportedFile[] = [];
  o.onProgress?.("writing clicks.tsv");
  const clicks = o.open(path.join(o.outDir, "clicks.tsv"));
  await clicks.header("user\titem\tsplit");
  for (const [split, matrix] of [
    ["train", m.train],
    ["validation", m.validation],
    ["test", m.test],
  ] as const) {
    await forEachEntry(matrix, async (row, col) => clicks.line(`${cell(m.userIds[row])}\t${cell(m.itemIds[col])}\t${split}`));
  }
  files.push(await clicks.close());
  o.onProgress?.("writing words.tsv");
  const words = o.open(path.join(o.outDir, "words.tsv"));
  await words.header("user\tword\tcount");
  await forEachEntry(m.words, async (row, col, value) => words.line(`${cell(m.userIds[row])}\t${m.vocabulary[col]}\t${value}`));
  files.push(await words.close());
  const items = o.open(path.join(o.outDir, "items.tsv"));
  await items.header("item\tcolumn\ttitle\tcategories");
  for (let c = 0; c < m.itemIds.length; c += 1) await items.line(`${cell(m.itemIds[c])}\t${c}\t${cell(meta.titles[c] ?? "")}\t${meta.categories[c].map(cell).join("|")}`);
  files.push(await items.close());
  const users = o.open(path.join(o.outDir, "users.tsv"));
  await users.header("user\trow");
  for (let r = 0; r < m.userIds.length; r += 1) await users.line(`${cell(m.userIds[r])}\t${r}`);
  files.push(await users.close());
  return files;
}

/** Calls `visit` for every stored entry of a CSR matrix, row by row. */
async function forEachEntry(matrix: CsrMatrix, visit: (row: number, col: number, value: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < matrix.rows; r += 1) {
    for (let p = matrix.indptr[r]; p < matrix.indptr[r + 1]; p += 1) await visit(r, matrix.indices[p], matrix.values[p]);
  }
}

/** The header line of a recommendations CSV. */
const RECOMMENDATION_CSV_HEADER = stringify([["user", "rank", "item", "title", "score", "explanation"]]).trimEnd();

/** What every export of recommendations reads first: the model, its dataset and the users' rows in the file's order. */
export interface RecommendationExportPlan {
  readonly m: DatasetMatrices;
  readonly loaded: { variant: Variant; datasetId: number };
  /** Dataset rows of the users to export, in the file's order. */
  readonly rows: ReadonlyArray<number>;
}

/** The users of an export of recommendations (every user, or the listed external ids; NOT_FOUND names the first unknown one). */
export async function planRecommendationExport(o: { services: PredictionServiceSet; modelId: number; users?: ReadonlyArray<string> }): Promise<RecommendationExportPlan> {
  const { loaded, dataset } = await o.services.inference.modelWithDataset(o.modelId);
  const m = dataset.matrices;
  if (o.users === undefined) return { m, loaded, rows: m.userIds.map((_, r) => r) };
  const rowOf = new Map(m.userIds.map((id, r) => [id, r]));
  const missing = o.users.filter((id) => !rowOf.has(id));
  if (missing.length > 0) {
    throw new UserError(ErrorCode.NOT_FOUND, `${missing.length} of the listed users are not in dataset "${m.name}" (first: ${JSON.stringify(missing[0])}); list external user ids of that dataset.`);
  }
  return { m, loaded, rows: o.users.map((id) => rowOf.get(id)!) };
}

/** How the lines of an export of recommendations are made. */
export interface RecommendationLineOptions {
  readonly services: PredictionServiceSet;
  readonly modelId: number;
  readonly k: number;
  readonly format: RecommendationExportFormat;
  /** How the explanation words are chosen (the API's default when absent). */
  readonly rule?: ExplanationRule;
  /** Explanation words per item (3 when absent). */
  readonly explanationWords?: number;
}

/**
 * Writes the top-k recommendations (VCM, from clicks, training clicks excluded) of every user or of
 * the listed external ids, each with the item's title and its explanation's top words.
 */
export async function exportRecommendations(
  options: RecommendationLineOptions & {
    dataSource: DataSource;
    /** External user ids, or undefined for every user. */
    users?: ReadonlyArray<string>;
    out: string;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<ExportedFile & { users: number }> {
  const plan = await planRecommendationExport(options);
  const meta = await recommendationTitles(options.dataSource, plan);
  return writeExport({
    dir: path.dirname(options.out),
    write: async (open) => {
      const out = open(options.out);
      if (options.format === "csv") await out.header(RECOMMENDATION_CSV_HEADER);
      for await (const batch of recommendationLines({ ...options, plan, meta, first: 0, end: plan.rows.length })) {
        for (const line of batch.lines) await out.line(line);
        options.onProgress?.(batch.done, plan.rows.length);
      }
      return { ...(await out.close()), users: plan.rows.length };
    },
  });
}

/**
 * The lines of the users at positions [first, end) of an export's plan, a batch of RECOMMENDATION_BATCH_USERS
 * users at a time, counted from the start of the whole list (so that a shard that starts at a batch
 * boundary computes exactly the batches a single process would).
 */
export async function* recommendationLines(
  o: RecommendationLineOptions & { plan: RecommendationExportPlan; meta: { titles: Array<string | null> }; first: number; end: number },
): AsyncGenerator<{ lines: string[]; done: number }> {
  const { services, modelId, k, plan } = o;
  const { m, loaded } = plan;
  const words = o.explanationWords ?? 3;
  for (let start = o.first; start < o.end; start += RECOMMENDATION_BATCH_USERS) {
    const batch = plan.rows.slice(start, Math.min(o.end, start + RECOMMENDATION_BATCH_USERS));
    const rankings = await services.inference.recommendMany(batch.map((row) => ({ modelId, source: "CLICKS" as const, row, k, excludeSeen: true })));
    const pairs: Array<{ row: number; item: number; rank: number; score: number }> = [];
    rankings.forEach((ranked, i) => {
      if (ranked instanceof Error) throw ranked;
      for (const r of ranked) pairs.push({ row: batch[i], item: r.item, rank: r.rank, score: r.score });
    });
    const explanations = !capabilitiesOf(loaded.variant).clickToReview ? [] : await services.inference.explainMany(pairs.map((p) => ({ modelId, row: p.row, item: p.item, k: words, rule: o.rule, clicks: false })));
    const lines: string[] = [];
    for (const [i, p] of pairs.entries()) {
      const e = explanations[i];
      if (e instanceof Error) throw e;
      const explained = e === undefined ? [] : e.words.map((w) => w.word);
      const user = m.userIds[p.row];
      const item = m.itemIds[p.item];
      const title = o.meta.titles[p.item];
      lines.push(
        o.format === "csv"
          ? stringify([[user, p.rank, item, title ?? "", p.score, explained.join(" ")]]).trimEnd()
          : JSON.stringify({ user, rank: p.rank, item, title, score: p.score, explanation: explained }),
      );
    }
    yield { lines, done: start + batch.length };
  }
}

/** Titles by item column, for the lines of an export of recommendations. */
export async function recommendationTitles(dataSource: DataSource, plan: RecommendationExportPlan): Promise<{ titles: Array<string | null> }> {
  return itemMetadataByColumn(dataSource, plan.loaded.datasetId, plan.m.itemIds.length);
}

/**
 * Writes a recommendations file from runs of lines made elsewhere (the shards of a sharded export, in
 * order), under a temporary name renamed when complete, as every export is written.
 */
export async function writeRecommendationRuns(o: { out: string; format: RecommendationExportFormat; runs: AsyncIterable<string> }): Promise<ExportedFile> {
  return writeExport({
    dir: path.dirname(o.out),
    write: async (open) => {
      const out = open(o.out);
      if (o.format === "csv") await out.header(RECOMMENDATION_CSV_HEADER);
      for await (const run of o.runs) await out.run(run);
      return out.close();
    },
  });
}

/** The cohort table of a model (and a compared one) as CSV or Markdown text. */
export function formatCohorts(analysis: CohortAnalysis, format: CohortExportFormat): string {
  const compared = analysis.compareTo !== null;
  const header = ["cohort", "users", "capacity", "ndcg@10", "recall@20", "coverage@10", "arp@10", "aplt@10", "novelty@10", ...(compared ? [`capacity (model ${analysis.compareTo})`, `ndcg@10 (model ${analysis.compareTo})`, `recall@20 (model ${analysis.compareTo})`, "ndcg@10 change"] : [])];
  const num = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? "" : v.toFixed(digits));
  const rows = analysis.cohorts.map((c) => [
    c.label,
    String(c.userCount),
    num(c.figures.meanCapacity, 2),
    num(c.figures.ndcg10),
    num(c.figures.recall20),
    num(c.figures.beyondAccuracy.coverage),
    num(c.figures.beyondAccuracy.arp, 2),
    num(c.figures.beyondAccuracy.aplt),
    num(c.figures.beyondAccuracy.novelty, 3),
    ...(compared ? [num(c.compared?.meanCapacity, 2), num(c.compared?.ndcg10), num(c.compared?.recall20), c.change?.ndcg10 == null ? "" : `${(c.change.ndcg10 * 100).toFixed(1)} %`] : []),
  ]);
  if (format === "csv") return stringify([header, ...rows]);
  const line = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`;
  const cut = analysis.grouping === "BOUNDARIES" ? "" : `, ${analysis.cohorts.length} groups of equal ${analysis.grouping === "EQUAL_USERS" ? "users" : "training clicks"}`;
  return [`Cohorts of model ${analysis.modelId}${compared ? ` against model ${analysis.compareTo}` : ""} (${analysis.testUsers} test users${cut})`, "", line(header), line(header.map(() => "---")), ...rows.map(line), ""].join("\n");
}

/** The columns of `vcm export metrics`, in order. */
export const USER_METRIC_COLUMNS = ["user", "activity", "ndcg@10", "recall@20", "arp@10", "aplt@10", "novelty@10", "capacity"] as const;

/**
 * Each test user's figures of a model as the cohorts query computes them (one row per user with a
 * test click): training clicks, NDCG@10, Recall@20, ARP, APLT and novelty at 10 (long tail at the
 * default shares) and ĉu; an empty cell where a figure is undefined (no encoder: no ĉu).
 */
export async function exportUserMetrics(options: { services: PredictionServiceSet; modelId: number; out: string }): Promise<ExportedFile> {
  const { services, modelId } = options;
  const evaluation = await services.cohorts.evaluation(modelId);
  const { dataset } = await services.inference.modelWithDataset(modelId);
  const userIds = dataset.matrices.userIds;
  const beyond = beyondPerUser(evaluation);
  const value = (v: number) => (Number.isFinite(v) ? v : "");
  return writeExport({
    dir: path.dirname(options.out),
    write: async (open) => {
      const out = open(options.out);
      await out.header(stringify([[...USER_METRIC_COLUMNS]]).trimEnd());
      for (let u = 0; u < evaluation.rows.length; u += 1) {
        const row = [userIds[evaluation.rows[u]], evaluation.activity[u], value(evaluation.ndcg10[u]), value(evaluation.recall20[u]), value(beyond.arp[u]), value(beyond.aplt[u]), value(beyond.novelty[u]), value(evaluation.capacity[u])];
        await out.line(stringify([row]).trimEnd());
      }
      return out.close();
    },
  });
}
