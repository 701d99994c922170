/**
 * Checkpoints: one folder per trained model holding manifest.json (everything but the numbers) and
 * weights.bin (all weights as little-endian float32, back to back). Written to a temporary sibling
 * folder and renamed into place, so a crash never leaves a half-written checkpoint under the real name.
 */
import { createHash, randomBytes } from "node:crypto";
import buffer from "node:buffer";
import { createReadStream, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ErrorCode, storageFullMessage, UserError } from "../errors.ts";
import { formatBytes } from "./memory.ts";
import type { BackendName, EpochRecord, ModelSnapshot, NamedWeight, Variant } from "./types.ts";
import { VARIANTS } from "./types.ts";

/** Bumped whenever the layout of manifest.json or weights.bin changes incompatibly. */
export const CHECKPOINT_FORMAT_VERSION = 1;
export const MANIFEST_FILE = "manifest.json";
export const WEIGHTS_FILE = "weights.bin";

/** Which dataset version a model was trained on, so a later load can tell whether the ids still line up. */
export interface DatasetReference {
  /** Database id of the dataset. */
  readonly id: number;
  /** Name given at ingest. */
  readonly name: string;
  /** Hash of the counts and id maps (users, items, vocabulary) of the version trained on. */
  readonly fingerprint: string;
}

/** Where one weight lives inside weights.bin. */
export interface WeightEntry {
  readonly name: string;
  readonly shape: ReadonlyArray<number>;
  /** Byte offset in weights.bin (a multiple of 4). */
  readonly offset: number;
  /** Number of float32 values. */
  readonly length: number;
}

/** The JSON half of a checkpoint. */
export interface CheckpointManifest {
  readonly formatVersion: number;
  readonly variant: Variant;
  readonly config: Readonly<Record<string, unknown>>;
  readonly backend: BackendName;
  /** What ran the kernels (engine/types.ts ModelSnapshot.device); absent in checkpoints written before it. */
  readonly device?: string;
  readonly numItems: number;
  readonly numWords: number;
  readonly bestEpoch: number;
  readonly history: ReadonlyArray<EpochRecord>;
  readonly weights: ReadonlyArray<WeightEntry>;
  /** Size of weights.bin in bytes. */
  readonly byteLength: number;
  /** SHA-256 of weights.bin, hex. */
  readonly checksum: string;
  readonly dataset: DatasetReference | null;
  /** Caller-defined fields (e.g. the database id of the model row). */
  readonly extra: Readonly<Record<string, unknown>>;
  /** ISO time of writing. */
  readonly savedAt: string;
}

/** A checkpoint as loaded: the snapshot to rebuild the model from and the manifest it came with. */
export interface LoadedCheckpoint {
  readonly snapshot: ModelSnapshot;
  readonly manifest: CheckpointManifest;
}

/**
 * Writes a snapshot to `dir` (the model's own folder, created; it must not exist yet) atomically.
 * Resolves to the manifest written.
 */
export async function saveCheckpoint(options: {
  dir: string;
  snapshot: ModelSnapshot;
  dataset?: DatasetReference | null;
  extra?: Readonly<Record<string, unknown>>;
}): Promise<CheckpointManifest> {
  const { snapshot } = options;
  const dir = path.resolve(options.dir);
  if (await pathExists(dir)) {
    throw new UserError(ErrorCode.CONFLICT, `A checkpoint already exists at ${dir}; choose another folder or delete it first.`);
  }
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await fs.mkdir(tmp);
  try {
    const { entries, byteLength, checksum } = await writeWeights(path.join(tmp, WEIGHTS_FILE), snapshot.weights);
    const manifest: CheckpointManifest = {
      formatVersion: CHECKPOINT_FORMAT_VERSION,
      variant: snapshot.variant,
      config: snapshot.config,
      backend: snapshot.backend,
      device: snapshot.device,
      numItems: snapshot.numItems,
      numWords: snapshot.numWords,
      bestEpoch: snapshot.bestEpoch,
      history: snapshot.history,
      weights: entries,
      byteLength,
      checksum,
      dataset: options.dataset ?? null,
      extra: options.extra ?? {},
      savedAt: new Date().toISOString(),
    };
    await fs.writeFile(path.join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    await fs.rename(tmp, dir);
    return manifest;
  } catch (error) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Reads a checkpoint folder back, verifying format version, sizes and checksum. `name` ("model 10")
 * replaces the folder in error sentences, for answers to API clients, which must not see paths.
 * The size is checked against the manifest and the checksum computed while streaming, both before
 * the weights are read into memory, so a damaged or oversized file costs no memory; so is `check`
 * (a memory estimate that throws), given the manifest.
 */
export async function loadCheckpoint(dir: string, options: { name?: string; check?: (manifest: CheckpointManifest) => void } = {}): Promise<LoadedCheckpoint> {
  const folder = path.resolve(dir);
  const subject = options.name ? `The checkpoint of ${options.name}` : `The checkpoint at ${folder}`;
  const manifest = await readManifest(folder, options);
  // The caller's memory check runs on the manifest alone, before any weight is read.
  options.check?.(manifest);
  const weightsPath = path.join(folder, WEIGHTS_FILE);
  const missing = (): UserError => new UserError(ErrorCode.NOT_FOUND, `${subject} has no ${WEIGHTS_FILE}; train the model again.`);
  let size: number;
  try {
    const stat = await fs.stat(weightsPath);
    if (!stat.isFile()) throw new Error("not a file");
    size = stat.size;
  } catch {
    throw missing();
  }
  if (size !== manifest.byteLength) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `${subject} is truncated or corrupt: ${WEIGHTS_FILE} has ${size} bytes, its manifest expects ${manifest.byteLength}; train the model again.`,
    );
  }
  if (size > buffer.constants.MAX_LENGTH) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${subject} holds ${size} bytes of weights, more than this process can load; train a smaller model.`);
  }
  // The folder may be removed while it is read (its model deleted): that is a missing file, not a fault.
  const orMissing = (error: unknown): never => {
    throw (error as NodeJS.ErrnoException).code === "ENOENT" ? missing() : error;
  };
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(weightsPath, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (error) {
    orMissing(error);
  }
  if (hash.digest("hex") !== manifest.checksum) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `${subject} is corrupt: the checksum of ${WEIGHTS_FILE} does not match its manifest; train the model again.`,
    );
  }
  const bytes = await fs.readFile(weightsPath).catch(orMissing);
  if (bytes.byteLength !== size) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${subject} changed while it was read; load it again.`);
  }
  const weights: NamedWeight[] = manifest.weights.map((entry) => ({
    name: entry.name,
    shape: entry.shape,
    values: readFloat32(bytes, entry.offset, entry.length),
  }));
  const snapshot: ModelSnapshot = {
    variant: manifest.variant,
    config: manifest.config,
    backend: manifest.backend,
    device: manifest.device,
    numItems: manifest.numItems,
    numWords: manifest.numWords,
    weights,
    history: manifest.history,
    bestEpoch: manifest.bestEpoch,
  };
  return { snapshot, manifest };
}

/**
 * Reads and checks only manifest.json (cheap: no weights), e.g. to list or validate a checkpoint;
 * `name` as in loadCheckpoint.
 */
export async function readManifest(dir: string, options: { name?: string } = {}): Promise<CheckpointManifest> {
  const folder = path.resolve(dir);
  const subject = options.name ? `The checkpoint of ${options.name}` : `The checkpoint at ${folder}`;
  let text: string;
  try {
    text = await fs.readFile(path.join(folder, MANIFEST_FILE), "utf8");
  } catch {
    const what = (await pathExists(folder)) ? `has no ${MANIFEST_FILE}` : "does not exist";
    throw new UserError(ErrorCode.NOT_FOUND, `${subject} ${what}; train the model again or check VCM_MODELS_DIR.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${subject} has a ${MANIFEST_FILE} that is not valid JSON; train the model again.`);
  }
  return checkManifest(parsed, subject);
}

function checkManifest(value: unknown, subject: string): CheckpointManifest {
  const bad = (why: string): UserError => new UserError(ErrorCode.BAD_USER_INPUT, `${subject} is not usable: ${why}; train the model again.`);
  if (typeof value !== "object" || value === null) throw bad("its manifest is not an object");
  const m = value as Record<string, unknown>;
  if (m.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw bad(`it has format version ${JSON.stringify(m.formatVersion)}, this build reads version ${CHECKPOINT_FORMAT_VERSION}`);
  }
  if (!VARIANTS.includes(m.variant as Variant)) throw bad(`its variant ${JSON.stringify(m.variant)} is unknown`);
  for (const key of ["numItems", "numWords", "bestEpoch", "byteLength"] as const) {
    if (!Number.isInteger(m[key]) || (m[key] as number) < 0) throw bad(`its ${key} is not a non-negative integer`);
  }
  if (typeof m.checksum !== "string") throw bad("its checksum is missing");
  if (!Array.isArray(m.weights) || !Array.isArray(m.history)) throw bad("its weight list or history is missing");
  for (const w of m.weights as ReadonlyArray<Record<string, unknown>>) {
    const shape = w.shape as ReadonlyArray<number>;
    const size = Array.isArray(shape) ? shape.reduce((p, d) => p * d, 1) : Number.NaN;
    const offset = w.offset as number;
    const length = w.length as number;
    if (typeof w.name !== "string" || size !== length || !Number.isInteger(offset) || offset % 4 !== 0) {
      throw bad(`its entry for weight ${JSON.stringify(w.name)} is malformed`);
    }
    if (offset + 4 * length > (m.byteLength as number)) throw bad(`weight ${w.name} lies outside ${WEIGHTS_FILE}`);
  }
  return m as unknown as CheckpointManifest;
}

async function writeWeights(
  file: string,
  weights: ReadonlyArray<NamedWeight>,
): Promise<{ entries: WeightEntry[]; byteLength: number; checksum: string }> {
  const hash = createHash("sha256");
  const entries: WeightEntry[] = [];
  const handle = await fs.open(file, "w");
  let offset = 0;
  try {
    for (const w of weights) {
      const size = w.shape.reduce((p, d) => p * d, 1);
      if (size !== w.values.length) {
        throw new Error(`weight ${w.name} has ${w.values.length} values for shape [${w.shape.join(", ")}]`);
      }
      const bytes = littleEndianBytes(w.values);
      hash.update(bytes);
      await handle.write(bytes, 0, bytes.byteLength);
      entries.push({ name: w.name, shape: [...w.shape], offset, length: w.values.length });
      offset += bytes.byteLength;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { entries, byteLength: offset, checksum: hash.digest("hex") };
}

/** The float32 bytes of `values` in little-endian order (a view when the host is little-endian). */
function littleEndianBytes(values: Float32Array): Uint8Array {
  if (os.endianness() === "LE") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.alloc(values.byteLength);
  for (let i = 0; i < values.length; i += 1) out.writeFloatLE(values[i], 4 * i);
  return out;
}

/** Copies `length` little-endian float32 values starting at byte `offset` into a fresh aligned array. */
function readFloat32(bytes: Buffer, offset: number, length: number): Float32Array {
  const out = new Float32Array(length);
  if (os.endianness() === "LE") {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + 4 * length));
  } else {
    for (let i = 0; i < length; i += 1) out[i] = bytes.readFloatLE(offset + 4 * i);
  }
  return out;
}

/** True when something (file or folder) is at `p`. */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks that checkpoints can be written under `dir` (creating it when missing) by writing and
 * removing a probe file, so that training refuses up front instead of after its last epoch.
 */
export async function assertWritableFolder(dir: string): Promise<void> {
  const folder = path.resolve(dir);
  const probe = path.join(folder, `.write-probe-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(probe, "");
    await fs.rm(probe, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "an error";
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `The models folder ${folder} cannot be written (${code}); make it writable or point VCM_MODELS_DIR at a folder that is, then train again.`,
    );
  }
}

/** Room a checkpoint takes beside its weights: manifest.json (history, config) and the file system's blocks. */
const CHECKPOINT_OVERHEAD_BYTES = 256 * 1024;

/**
 * Refuses, with STORAGE_FULL and the space needed, a models folder whose file system has less room
 * than a checkpoint of `weightBytes` takes (fs.statfs's blocks free to this user).
 */
export async function assertRoomForCheckpoint(o: { dir: string; weightBytes: number }): Promise<void> {
  const folder = path.resolve(o.dir);
  const stats = await fs.statfs(folder);
  const free = stats.bavail * stats.bsize;
  const needed = o.weightBytes + CHECKPOINT_OVERHEAD_BYTES;
  if (free < needed) {
    throw new UserError(ErrorCode.STORAGE_FULL, storageFullMessage(`The models folder ${folder}`, `about ${formatBytes(needed)} for this model's checkpoint, ${formatBytes(free)} free`));
  }
}
