/**
 * Backend selection: without libtensorflow (these machines cannot download it) the engine falls back
 * to wasm and says so once on stderr; a forced choice is honoured or refused with a sentence.
 */
import * as tf from "@tensorflow/tfjs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { currentBackend, initBackend } from "../../../src/engine/runtime/index.ts";
import { UserError } from "../../../src/errors.ts";

async function nativeInstalled(): Promise<boolean> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      const specifier: string = pkg;
      await import(specifier);
      return true;
    } catch {
      // Not installed here: the fallback is what we test.
    }
  }
  return false;
}

describe("initBackend", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.skipIf(process.env.VCM_BACKEND)("falls back to wasm when tfjs-node(-gpu) is absent and reports it once", async () => {
    if (await nativeInstalled()) return;
    const writes: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    expect(await initBackend()).toBe("wasm");
    expect(await initBackend()).toBe("wasm");
    expect(currentBackend()).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(writes.filter((w) => w.includes("engine backend wasm"))).toHaveLength(1);
  });

  it("refuses VCM_BACKEND=tensorflow with a sentence when no native build is installed", async () => {
    if (await nativeInstalled()) return;
    const attempt = initBackend("tensorflow");
    await expect(attempt).rejects.toBeInstanceOf(UserError);
    await expect(attempt).rejects.toThrow(/neither @tensorflow\/tfjs-node-gpu nor @tensorflow\/tfjs-node is installed/);
  });

  it("switches to a forced cpu backend and back to wasm", async () => {
    expect(await initBackend("cpu")).toBe("cpu");
    expect(currentBackend()).toBe("cpu");
    const sum = tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0]);
    expect(sum).toBe(6);
    expect(await initBackend("wasm")).toBe("wasm");
    expect(currentBackend()).toBe("wasm");
  });
});
