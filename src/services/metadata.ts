/**
 * Attaching metadata to a dataset (issue 10, §1): item titles, categories and attributes from a
 * metadata file (Amazon 2014/2018/2023, Yelp business.json, or a TSV with a header), and user names
 * from a TSV. The files are read and staged first, so a file of the wrong format changes nothing;
 * then everything is applied in one transaction (metadata-writer.ts).
 */
import type { DataSource } from "typeorm";
import { readItemMetadata, type MetadataFormat } from "../data/metadata/read-item-metadata.ts";
import { SkipCounter } from "../data/skips.ts";
import { findDatasetRef } from "../db/load-dataset-matrices.ts";
import { MetadataWriter, type MetadataApplied } from "../db/metadata-writer.ts";
import { ErrorCode, UserError } from "../errors.ts";

export const METADATA_FORMATS: ReadonlyArray<MetadataFormat> = ["amazon", "yelp", "tsv"];

/** A metadata file and how to read it. */
export interface MetadataFile {
  readonly file: string;
  readonly format: MetadataFormat;
}

/** What one attached file did. */
export interface MetadataFileSummary extends MetadataApplied {
  /** Malformed records skipped, by reason, and the first line numbers of each. */
  readonly skipped: Readonly<Record<string, number>>;
  readonly skippedLines: Readonly<Record<string, ReadonlyArray<number>>>;
}

export interface MetadataSummary {
  readonly dataset: string;
  readonly items: MetadataFileSummary | null;
  readonly users: MetadataFileSummary | null;
  readonly seconds: number;
}

/** Checks a format name from the outside world. */
export function parseMetadataFormat(name: string): MetadataFormat {
  if (!METADATA_FORMATS.includes(name as MetadataFormat)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Unknown metadata format "${name}"; choose one of ${METADATA_FORMATS.join(", ")}.`);
  }
  return name as MetadataFormat;
}

/** Metadata files read and staged, waiting to be applied to a dataset (or dropped). */
export interface StagedMetadata {
  apply(datasetId: number): Promise<{ items: MetadataFileSummary | null; users: MetadataFileSummary | null }>;
  drop(): Promise<void>;
}

/**
 * Reads the files into staging (refusing a file of the wrong format, with nothing changed); the
 * caller applies them once the dataset exists (ingest --items) or at once (vcm metadata).
 */
export async function stageMetadata(options: {
  dataSource: DataSource;
  items?: MetadataFile;
  /** Users: a TSV whose first column is the user id, with a `name` column. */
  users?: { readonly file: string };
  onProgress?: (message: string) => void;
}): Promise<StagedMetadata> {
  const staged: Array<{ kind: "items" | "users"; writer: MetadataWriter; skips: SkipCounter }> = [];
  const drop = async () => {
    for (const s of staged) await s.writer.drop();
  };
  try {
    for (const [kind, spec] of [
      ["items", options.items],
      ["users", options.users === undefined ? undefined : { file: options.users.file, format: "tsv" as const }],
    ] as const) {
      if (spec === undefined) continue;
      const writer = await MetadataWriter.open(options.dataSource, kind);
      const skips = new SkipCounter();
      staged.push({ kind, writer, skips });
      options.onProgress?.(`reading ${kind} metadata (${spec.format})`);
      await readItemMetadata({
        file: spec.file,
        format: spec.format,
        rows: kind,
        skips,
        onItem: (item) => writer.add({ externalId: item.externalId, title: item.title, categories: item.categories, attributes: item.attributes }),
      });
    }
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    async apply(datasetId) {
      const result: { items: MetadataFileSummary | null; users: MetadataFileSummary | null } = { items: null, users: null };
      for (const s of staged) {
        result[s.kind] = { ...(await s.writer.apply(datasetId)), skipped: s.skips.counts(), skippedLines: s.skips.firstLines() };
      }
      return result;
    },
    drop,
  };
}

/** `vcm metadata`: attaches metadata files to an ingested dataset (an upsert; unknown ids are counted). */
export async function attachMetadata(options: {
  dataSource: DataSource;
  dataset: string;
  items?: MetadataFile;
  users?: { readonly file: string };
  onProgress?: (message: string) => void;
}): Promise<MetadataSummary> {
  const started = performance.now();
  if (options.items === undefined && options.users === undefined) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, "Nothing to attach: pass --items FILE (with --format) or --users FILE.");
  }
  // Before the long read: an unknown dataset is refused at once.
  const dataset = await findDatasetRef(options.dataSource, options.dataset);
  const staged = await stageMetadata(options);
  try {
    const applied = await staged.apply(dataset.id);
    return { dataset: dataset.name, ...applied, seconds: (performance.now() - started) / 1000 };
  } finally {
    await staged.drop();
  }
}
