/**
 * tfjs's threaded wasm build in Node (src/engine/runtime/wasm-threads.ts): each case is a process of its own
 * (the build is chosen once per process) that trains a small model without the native kernels. Two
 * threads must give the single-threaded build's numbers, say so in the device string stored with the
 * model, and let the process end by itself.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CHILD = path.join(ROOT, "test/engine/runtime/wasm-threads-child.ts");

interface ChildResult {
  backend: string;
  device: string;
  modelDevice: string;
  losses: number[][];
  scores: number[];
  cd: number[];
}

/** Runs the child with the given thread setting; fails if it does not end by itself within 100 s. */
function runChild(env: Record<string, string>): Promise<{ result: ChildResult; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
      cwd: ROOT,
      env: { ...process.env, VCM_BACKEND: "wasm", VCM_NATIVE_MATMUL: "off", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the child did not end by itself within 100 s; stderr: ${stderr}`));
    }, 100_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`the child exited with ${code}: ${stderr}`));
      else resolve({ result: JSON.parse(stdout.trim().split("\n").pop()!) as ChildResult, stderr });
    });
  });
}

function worstDifference(a: number[], b: number[]): number {
  expect(a).toHaveLength(b.length);
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i])), 0);
}

describe("the threaded wasm build", () => {
  it("trains to the single-threaded build's numbers with two threads, says so, and lets the process end", async () => {
    const [one, two] = await Promise.all([runChild({ VCM_WASM_THREADS: "1" }), runChild({ VCM_WASM_THREADS: "2" })]);
    expect(one.result.backend).toBe("wasm");
    expect(one.result.device).toBe("WebAssembly SIMD");
    expect(two.result.backend).toBe("wasm");
    expect(two.result.device).toBe("WebAssembly SIMD, 2 threads");
    expect(two.result.modelDevice).toBe("WebAssembly SIMD, 2 threads");
    expect(two.stderr).toContain("vcm: engine backend wasm (WebAssembly SIMD, 2 threads)");
    // XNNPACK splits a matMul's output between threads, not its sums, so the numbers agree closely.
    expect(worstDifference(two.result.losses.flat(), one.result.losses.flat())).toBeLessThan(1e-3);
    expect(worstDifference(two.result.scores, one.result.scores)).toBeLessThan(1e-6);
    expect(worstDifference(two.result.cd, one.result.cd)).toBeLessThan(1e-6);
    // The model learnt: its click reconstruction term fell over the epochs, and a user's scores are a
    // distribution over the 150 items, far from uniform.
    const losses = two.result.losses;
    expect(losses[losses.length - 1][0]).toBeLessThan(0.9 * losses[0][0]);
    expect(two.result.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(Math.max(...two.result.scores)).toBeGreaterThan(3 / 150);
  });

  it("refuses a thread count outside 1 to 8 with a sentence", async () => {
    await expect(runChild({ VCM_WASM_THREADS: "12" })).rejects.toThrow(/VCM_WASM_THREADS must be a whole number of threads from 1 to 8, got "12"/);
  });
});
