/**
 * Multithreaded WebAssembly in Node (docs/model.md §3). tfjs 4.22 ships a threaded SIMD build, whose
 * XNNPACK kernels (matMul above all) run on a pool of Emscripten pthreads, but turns it off in Node
 * (tensorflow/tfjs#3830) for three reasons this module works around while the backend starts:
 * - the pthread worker script is handed to `new Worker` as a `blob:` URL, which Node's Worker refuses:
 *   it is written to a file instead, and the worker's `importScripts` of the main script (also a blob)
 *   is pointed at the package's own copy of it;
 * - the thread count is capped at half of `os.cpus()` (tfjs assumes two hardware threads per core),
 *   one thread on a 2-core machine: `os.cpus()` is doubled while the module initialises;
 * - the workers would keep the process alive after its work: they are unref'd.
 * Everything is put back once `tf.setBackend` returns; with the threads the heap is a
 * SharedArrayBuffer, so the native OpenBLAS kernels (which take a plain ArrayBuffer) use the
 * single-threaded build instead (backend.ts decides).
 */
import * as tf from "@tensorflow/tfjs";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

/** The most threads tfjs's build can use: it starts a pool of 8 pthread workers. */
export const MAX_WASM_THREADS = 8;

interface EmscriptenWorkers {
  PThread?: { unusedWorkers: Array<{ unref(): void }>; runningWorkers: Array<{ unref(): void }> };
}

interface WasmModuleApi {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** Threads to use when VCM_WASM_THREADS does not say: one per core this process may run on, at most 8. */
export function defaultWasmThreads(): number {
  return Math.max(1, Math.min(MAX_WASM_THREADS, os.availableParallelism()));
}

/**
 * Starts the wasm backend on the threaded build with `threads` threads (2 to 8); returns the count
 * tfjs reports, or 0 when the threaded build did not start (the caller then starts the plain one).
 */
export async function startThreadedWasm(wasm: WasmModuleApi, threads: number): Promise<number> {
  const require = createRequire(import.meta.url);
  const { wasmWorkerContents } = require("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js") as {
    wasmWorkerContents: string;
  };
  const mainScript = require.resolve("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js");
  // tfjs escapes the newlines of the script's string literals the same way before making its blob.
  const script =
    `${wasmWorkerContents.replace(/\n/g, "\\n")}\n` +
    `;{const load=global.importScripts;global.importScripts=(f)=>load(String(f).startsWith("blob:")?${JSON.stringify(mainScript)}:f);}\n`;
  const file = path.join(os.tmpdir(), `vcm-tfjs-wasm-worker-${process.pid}-${randomUUID().slice(0, 8)}.cjs`);
  fs.writeFileSync(file, script);
  const realCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  URL.createObjectURL = (blob: Blob) => (blob?.type === "application/javascript" ? file : realCreateObjectURL(blob));
  os.cpus = () => {
    const one = realCpus()[0];
    return Array.from({ length: 2 * threads }, () => one);
  };
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasm.setThreadsCount(threads);
  let started = false;
  try {
    started = await tf.setBackend("wasm");
  } catch {
    started = false;
  } finally {
    URL.createObjectURL = realCreateObjectURL;
    os.cpus = realCpus;
    // Every worker of the pool has read the file by now (the module waits for all of them to load).
    fs.rmSync(file, { force: true });
  }
  if (!started) {
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    wasm.setThreadsCount(1);
    return 0;
  }
  const pthreads = (tf.backend() as unknown as { wasm: EmscriptenWorkers }).wasm.PThread;
  for (const worker of [...(pthreads?.unusedWorkers ?? []), ...(pthreads?.runningWorkers ?? [])]) worker.unref();
  return wasm.getThreadsCount();
}
