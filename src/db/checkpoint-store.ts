/**
 * Checkpoints kept in PostgreSQL, so that every server on one database serves a model any of them
 * trained, each from its own local models folder: the trainer stores the folder's files (in chunks,
 * with each file's SHA-256) before the model is published; a server that lacks the folder fetches it
 * into its own models folder (written beside it, checked, then renamed into place) and loads it from
 * there. On SQLite the models folder is the only copy and nothing here runs.
 */
import { createHash, randomUUID } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import type { DataSource } from "typeorm";
import { ErrorCode, UserError } from "../errors.ts";
import { dialectOfSource } from "./data-source.ts";
import { sqlIn, sqlOf } from "./sql.ts";

/** Bytes per stored chunk: well under PostgreSQL's 1 GB value limit, few rows per checkpoint. */
const CHUNK_BYTES = 8 << 20;

/** Whether this database keeps a copy of every checkpoint (PostgreSQL) besides the models folder. */
export function checkpointsLiveInDatabase(dataSource: DataSource): boolean {
  return dialectOfSource(dataSource) === "postgres";
}

/**
 * Stores every file of a checkpoint folder for `modelId`, replacing what was stored, in one transaction;
 * nothing where the database keeps no checkpoints.
 */
export async function storeCheckpoint(dataSource: DataSource, o: { modelId: number; dir: string }): Promise<void> {
  if (!checkpointsLiveInDatabase(dataSource)) return;
  const names = (await fs.readdir(o.dir)).sort();
  await dataSource.transaction(async (manager) => {
    const sql = sqlIn(manager);
    await sql.run("DELETE FROM checkpoint_files WHERE model_id = ?", [o.modelId]);
    await sql.run("DELETE FROM checkpoint_chunks WHERE model_id = ?", [o.modelId]);
    for (const name of names) {
      const bytes = await fs.readFile(path.join(o.dir, name));
      const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
      for (let part = 0; part < chunks; part++) {
        await sql.run("INSERT INTO checkpoint_chunks (model_id, name, part, bytes) VALUES (?, ?, ?, ?)", [o.modelId, name, part, bytes.subarray(part * CHUNK_BYTES, (part + 1) * CHUNK_BYTES)]);
      }
      await sql.run("INSERT INTO checkpoint_files (model_id, name, size, sha256, chunks) VALUES (?, ?, ?, ?, ?)", [o.modelId, name, bytes.length, sha256(bytes), chunks]);
    }
  });
}

/**
 * Writes the stored checkpoint of `modelId` to `dir` (which must not exist yet; another server's fetch
 * of the same model may win the rename, which is fine). False when nothing is stored for the model.
 * A file whose bytes do not match its checksum is refused with a sentence, and nothing is left behind.
 */
export async function fetchCheckpoint(dataSource: DataSource, o: { modelId: number; dir: string }): Promise<boolean> {
  const sql = sqlOf(dataSource);
  const files = await sql.all<{ name: string; size: number; sha256: string; chunks: number }>("SELECT name, size, sha256, chunks FROM checkpoint_files WHERE model_id = ? ORDER BY name", [o.modelId]);
  if (files.length === 0) return false;
  const staging = `${o.dir}.fetch-${process.pid}-${randomUUID().slice(0, 8)}`;
  await fs.mkdir(staging, { recursive: true });
  try {
    for (const file of files) {
      const rows = await sql.rows<[number, Buffer]>("SELECT part, bytes FROM checkpoint_chunks WHERE model_id = ? AND name = ? ORDER BY part", [o.modelId, file.name]);
      const bytes = Buffer.concat(rows.map(([, chunk]) => chunk));
      if (rows.length !== file.chunks || bytes.length !== file.size || sha256(bytes) !== file.sha256) {
        throw new UserError(ErrorCode.BAD_USER_INPUT, `The stored checkpoint of model ${o.modelId} is damaged (its ${file.name} does not match its checksum); train the model again.`);
      }
      await fs.writeFile(path.join(staging, file.name), bytes);
    }
    await fs.rename(staging, o.dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another request (or server sharing the folder) fetched it first: theirs is the same checkpoint.
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
    });
    return true;
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** Forgets the stored checkpoint of a model that failed after saving (its row stays, failed); nothing where none is stored. */
export async function removeStoredCheckpoint(dataSource: DataSource, modelId: number): Promise<void> {
  if (!checkpointsLiveInDatabase(dataSource)) return;
  await dataSource.transaction(async (manager) => {
    const sql = sqlIn(manager);
    await sql.run("DELETE FROM checkpoint_chunks WHERE model_id = ?", [modelId]);
    await sql.run("DELETE FROM checkpoint_files WHERE model_id = ?", [modelId]);
  });
}

/** Whether a checkpoint is stored for the model (housekeeping keeps such a model when its folder is missing). */
export async function hasStoredCheckpoint(dataSource: DataSource, modelId: number): Promise<boolean> {
  if (!checkpointsLiveInDatabase(dataSource)) return false;
  return (await sqlOf(dataSource).rows("SELECT 1 FROM checkpoint_files WHERE model_id = ? LIMIT 1", [modelId])).length > 0;
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}
