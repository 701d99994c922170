/**
 * bench:scale's served scenario (`--serve`): a real `vcm serve` holding a model of a large catalogue,
 * measured from outside. A fresh SQLite file gets a TSV dataset in which every one of `items` items
 * is clicked once (users of `clicksPerUser` clicks, a short text each), and a READY model of planted
 * weights over exactly its items and words (planted-model.ts; never trained). The server answers one
 * user's top k at a time through GraphQL while this process reads its VmHWM and VmRSS from
 * /proc/PID/status: the peak RSS of a server holding the model, and each answer's seconds.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase } from "../src/db/data-source.ts";
import { findDatasetRef, loadDatasetMatrices } from "../src/db/load-dataset-matrices.ts";
import { createTrainingModel, publishReadyModel } from "../src/db/model-rows.ts";
import { saveCheckpoint } from "../src/engine/checkpoint.ts";
import { plantedVcmModel } from "../src/engine/retrieval/planted-model.ts";
import { currentBackend, currentDevice, initBackend } from "../src/engine/runtime/index.ts";
import { checkpointDir, datasetFingerprint } from "../src/services/saved-models.ts";
import { serveChild } from "./serve-child.ts";

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "vcm.js");

/** What the served scenario measured. */
export interface ServedFigures {
  readonly items: number;
  readonly words: number;
  readonly users: number;
  readonly hidden: number;
  readonly retrieval: string;
  readonly requests: number;
  readonly k: number;
  /** Size of the checkpoint's weights. */
  readonly weightBytes: number;
  /** VmRSS of the server once it listened, before the model was loaded. */
  readonly idleRssBytes: number;
  /** VmRSS after the last answer. */
  readonly rssBytes: number;
  /** VmHWM after the last answer: the server's peak RSS. */
  readonly peakRssBytes: number;
  /** Seconds of the first answer (loading the model and the dataset), then p50 / p99 of the others. */
  readonly firstSeconds: number;
  readonly p50: number;
  readonly p99: number;
}

/** A made-up word of letters (the tokenizer keeps it), distinct for each index. */
function word(i: number): string {
  let text = "";
  for (let n = i + 26 * 26; n > 0; n = Math.floor(n / 26)) text += String.fromCharCode(97 + (n % 26));
  return `w${text}`;
}

/** kB figures of /proc/PID/status, in bytes. */
function statusBytes(pid: number, field: "VmHWM" | "VmRSS"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]) * 1024;
}

function vcm(args: string[], env: NodeJS.ProcessEnv): string {
  const run = spawnSync(process.execPath, [BIN, ...args], { env, encoding: "utf8", maxBuffer: 1 << 24 });
  if (run.status !== 0) throw new Error(`vcm ${args.join(" ")} failed (${run.status}): ${run.stderr.slice(-2000)}`);
  return run.stdout;
}

function quantile(sorted: ReadonlyArray<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Runs the served scenario and prints its figures; the folder is removed afterwards. */
export async function measureServedModel(o: { items: number; hidden: number; clicksPerUser: number; vocab: number; requests: number; k: number; seed: number; retrieval: string }): Promise<ServedFigures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-serve-"));
  const env: NodeJS.ProcessEnv = { ...process.env, VCM_DB: path.join(dir, "vcm.sqlite"), VCM_MODELS_DIR: path.join(dir, "models"), VCM_RETRIEVAL: o.retrieval, VCM_ADMIN_TOKEN: "", PORT: "" };
  const users = Math.ceil(o.items / o.clicksPerUser);
  try {
    const interactions = fs.openSync(path.join(dir, "clicks.tsv"), "w");
    for (let i = 0; i < o.items; i += 1) fs.writeSync(interactions, `u${Math.floor(i / o.clicksPerUser)}\ti${i}\n`);
    fs.closeSync(interactions);
    const texts = fs.openSync(path.join(dir, "texts.tsv"), "w");
    for (let u = 0; u < users; u += 1) fs.writeSync(texts, `u${u}\t\t${Array.from({ length: 20 }, (_, j) => word((u * 7 + j * 13) % o.vocab)).join(" ")}\n`);
    fs.closeSync(texts);
    console.error(`served scenario: ingesting ${o.items.toLocaleString("en-US")} clicks of ${users.toLocaleString("en-US")} users`);
    vcm(["ingest", "--dataset", "big", "--format", "tsv", "--interactions", path.join(dir, "clicks.tsv"), "--texts", path.join(dir, "texts.tsv"), "--min-user-clicks", "1", "--min-item-users", "1", "--json"], env);

    const dataSource = await openDatabase(env.VCM_DB!);
    let weightBytes = 0;
    let modelId = 0;
    let userIds: string[];
    try {
      const matrices = await loadDatasetMatrices(dataSource, (await findDatasetRef(dataSource, "big")).id);
      userIds = [...matrices.userIds];
      await initBackend();
      const model = plantedVcmModel({ items: matrices.itemIds.length, words: matrices.vocabulary.length, seed: o.seed, config: { hiddenX: o.hidden } });
      const fingerprint = datasetFingerprint(matrices);
      const row = await createTrainingModel(dataSource, {
        datasetId: matrices.datasetId,
        variant: "vcm",
        config: { ...model.config },
        backend: currentBackend(),
        device: currentDevice(),
        datasetFingerprint: fingerprint,
        datasetVersion: matrices.version,
        userCount: matrices.userIds.length,
        itemCount: matrices.itemIds.length,
      });
      modelId = row.id;
      const checkpoint = checkpointDir(env.VCM_MODELS_DIR!, row.id);
      const manifest = await saveCheckpoint({ dir: checkpoint, snapshot: await model.snapshot(), dataset: { id: matrices.datasetId, name: matrices.name, fingerprint }, extra: { modelId: row.id } });
      weightBytes = manifest.byteLength;
      model.dispose();
      await publishReadyModel(dataSource, row.id, { backend: currentBackend(), device: currentDevice(), bestEpoch: 0, secondsPerEpoch: null, testMetrics: null, history: [], checkpointPath: checkpoint });
    } finally {
      await dataSource.destroy();
    }

    const server = await serveChild(env);
    const pid = server.child.pid!;
    try {
      const idleRssBytes = statusBytes(pid, "VmRSS");
      const query = `query Top($u: String!, $k: Int!, $m: ID!) { user(dataset: "big", externalId: $u) { recommendations(modelId: $m, k: $k) { rank score } } }`;
      const seconds: number[] = [];
      for (let r = 0; r < o.requests; r += 1) {
        const started = performance.now();
        const response = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables: { u: userIds[(r * 7919) % userIds.length], k: o.k, m: String(modelId) } }) });
        const body = (await response.json()) as { data?: { user: { recommendations: unknown[] } }; errors?: Array<{ message: string }> };
        if (body.errors !== undefined || body.data?.user.recommendations.length !== o.k) throw new Error(`the server answered ${JSON.stringify(body).slice(0, 500)}`);
        seconds.push((performance.now() - started) / 1000);
      }
      const rest = seconds.slice(1).sort((a, b) => a - b);
      return {
        items: o.items,
        words: o.vocab,
        users,
        hidden: o.hidden,
        retrieval: o.retrieval,
        requests: o.requests,
        k: o.k,
        weightBytes,
        idleRssBytes,
        rssBytes: statusBytes(pid, "VmRSS"),
        peakRssBytes: statusBytes(pid, "VmHWM"),
        firstSeconds: seconds[0],
        p50: quantile(rest, 0.5),
        p99: quantile(rest, 0.99),
      };
    } finally {
      const exited = new Promise((resolve) => server.child.once("exit", resolve));
      server.child.kill("SIGTERM");
      await exited;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The served scenario's figures, as lines. */
export function printServed(f: ServedFigures): void {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  console.log(`vcm serve holding ${f.items.toLocaleString("en-US")} items × hiddenX ${f.hidden} (weights ${gib(f.weightBytes)}), retrieval ${f.retrieval}, ${f.requests} top-${f.k} requests one at a time`);
  console.log(`  RSS idle ${gib(f.idleRssBytes)}, after the answers ${gib(f.rssBytes)}, peak (VmHWM) ${gib(f.peakRssBytes)}`);
  console.log(`  first answer (loads the model and dataset) ${f.firstSeconds.toFixed(1)} s; then p50 ${(f.p50 * 1000).toFixed(0)} ms, p99 ${(f.p99 * 1000).toFixed(0)} ms`);
}
