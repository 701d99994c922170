import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CHECKPOINT_FORMAT_VERSION,
  loadCheckpoint,
  readManifest,
  saveCheckpoint,
} from "../../src/engine/checkpoint.ts";
import type { ModelSnapshot } from "../../src/engine/types.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";

/** A hand-made snapshot with awkward values (negative zero, subnormal, extremes) to check the bytes round-trip. */
function snapshot(): ModelSnapshot {
  const a = Float32Array.from([1.5, -0, 1e-40, -3.4e38, 0.1, 7]);
  const b = Float32Array.from({ length: 5 }, (_, i) => Math.fround(Math.sin(i) * 1e-3));
  return {
    variant: "vcm",
    config: { latentDim: 2, epochs: 3 },
    backend: "wasm",
    numItems: 3,
    numWords: 5,
    weights: [
      { name: "x/enc/W", shape: [2, 3], values: a },
      { name: "y/dec/b", shape: [5], values: b },
    ],
    history: [
      { epoch: 1, beta: 0.1, reconX: 3, reconY: 4, klPriorX: 0.5, klPriorY: 0.6, klCrossX: 0.2, klCrossY: 0.3, valNdcg100: 0.4, seconds: 1.2 },
    ],
    bestEpoch: 1,
  };
}

async function expectUserError(promise: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  expect((error as UserError).code).toBe(code);
  expect((error as UserError).message).toMatch(pattern);
}

describe("checkpoint files", () => {
  let root: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-ckpt-"));
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it("round-trips weights bit for bit with manifest, dataset reference and extra fields", async () => {
    const dir = path.join(root, "models", "m1");
    const dataset = { id: 7, name: "tiny", fingerprint: "abc" };
    const manifest = await saveCheckpoint({ dir, snapshot: snapshot(), dataset, extra: { modelId: 12 } });
    expect(manifest.formatVersion).toBe(CHECKPOINT_FORMAT_VERSION);
    expect(manifest.byteLength).toBe(4 * 11);
    expect(manifest.weights.map((w) => w.offset)).toEqual([0, 24]);
    expect((await fs.readdir(path.join(root, "models"))).sort()).toEqual(["m1"]);
    expect((await fs.readdir(dir)).sort()).toEqual(["manifest.json", "weights.bin"]);

    const raw = await fs.readFile(path.join(dir, "weights.bin"));
    expect(raw.readFloatLE(0)).toBe(1.5);
    expect(raw.readFloatLE(20)).toBe(7);

    const loaded = await loadCheckpoint(dir);
    const original = snapshot();
    expect(loaded.snapshot.weights.map((w) => w.name)).toEqual(["x/enc/W", "y/dec/b"]);
    loaded.snapshot.weights.forEach((w, i) => {
      expect(w.shape).toEqual(original.weights[i].shape);
      expect(new Uint8Array(w.values.buffer)).toEqual(new Uint8Array(original.weights[i].values.buffer));
    });
    expect(loaded.snapshot.history).toEqual(original.history);
    expect(loaded.snapshot).toMatchObject({ variant: "vcm", backend: "wasm", numItems: 3, numWords: 5, bestEpoch: 1 });
    expect(loaded.manifest.dataset).toEqual(dataset);
    expect(loaded.manifest.extra).toEqual({ modelId: 12 });
  });

  it("refuses to overwrite an existing checkpoint and leaves no temporary folder behind", async () => {
    const dir = path.join(root, "m");
    await saveCheckpoint({ dir, snapshot: snapshot() });
    await expectUserError(saveCheckpoint({ dir, snapshot: snapshot() }), ErrorCode.CONFLICT, /already exists/);
    expect(await fs.readdir(root)).toEqual(["m"]);
  });

  it("removes the temporary folder when writing fails", async () => {
    const broken: ModelSnapshot = { ...snapshot(), weights: [{ name: "w", shape: [4], values: new Float32Array(3) }] };
    await expect(saveCheckpoint({ dir: path.join(root, "m"), snapshot: broken })).rejects.toThrow(/3 values/);
    expect(await fs.readdir(root)).toEqual([]);
  });

  it("reports a missing folder as NOT_FOUND", async () => {
    await expectUserError(loadCheckpoint(path.join(root, "nope")), ErrorCode.NOT_FOUND, /does not exist/);
  });

  it("reports a folder without weights.bin as NOT_FOUND", async () => {
    const dir = path.join(root, "m");
    await saveCheckpoint({ dir, snapshot: snapshot() });
    await fs.rm(path.join(dir, "weights.bin"));
    await expectUserError(loadCheckpoint(dir), ErrorCode.NOT_FOUND, /no weights\.bin/);
  });

  it("reports a truncated weights file", async () => {
    const dir = path.join(root, "m");
    await saveCheckpoint({ dir, snapshot: snapshot() });
    await fs.truncate(path.join(dir, "weights.bin"), 10);
    await expectUserError(loadCheckpoint(dir), ErrorCode.BAD_USER_INPUT, /truncated or corrupt: weights\.bin has 10 bytes/);
  });

  it("checks the size before reading: a huge sparse weights file costs no memory and is named by its model", async () => {
    const dir = path.join(root, "m");
    await saveCheckpoint({ dir, snapshot: snapshot() });
    // 3 GB of holes: more than a Buffer read whole would take, and than the manifest expects.
    await fs.truncate(path.join(dir, "weights.bin"), 3 * 1024 ** 3);
    const before = process.memoryUsage().rss;
    await expectUserError(loadCheckpoint(dir, { name: "model 7" }), ErrorCode.BAD_USER_INPUT, /^The checkpoint of model 7 is truncated or corrupt: weights\.bin has 3221225472 bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 ** 2);
  });

  it("streams the checksum of a weights file of the expected size that does not match", async () => {
    const dir = path.join(root, "m");
    await saveCheckpoint({ dir, snapshot: snapshot() });
    const file = path.join(dir, "weights.bin");
    const size = (await fs.stat(file)).size;
    await fs.writeFile(file, Buffer.alloc(size));
    const error = await loadCheckpoint(dir, { name: "model 7" }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe("The checkpoint of model 7 is corrupt: the checksum of weights.bin does not match its manifest; train the model again.");
    expect((error as Error).message).not.toContain(root);
  });

  it("reports flipped bytes in the weights through the checksum", async () => {
    const dir = path.join(root, "m");
    await saveCheckpoint({ dir, snapshot: snapshot() });
    const file = path.join(dir, "weights.bin");
    const bytes = await fs.readFile(file);
    bytes[5] ^= 0xff;
    await fs.writeFile(file, bytes);
    await expectUserError(loadCheckpoint(dir), ErrorCode.BAD_USER_INPUT, /checksum/);
  });

  it("reports a manifest of another format version, and one that is not JSON", async () => {
    const dir = path.join(root, "m");
    await saveCheckpoint({ dir, snapshot: snapshot() });
    const file = path.join(dir, "manifest.json");
    const manifest = JSON.parse(await fs.readFile(file, "utf8"));
    await fs.writeFile(file, JSON.stringify({ ...manifest, formatVersion: 99 }));
    await expectUserError(readManifest(dir), ErrorCode.BAD_USER_INPUT, /format version 99/);
    await fs.writeFile(file, "{ not json");
    await expectUserError(loadCheckpoint(dir), ErrorCode.BAD_USER_INPUT, /not valid JSON/);
  });
});
