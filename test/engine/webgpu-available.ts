/**
 * Whether the webgpu backend can start here (Dawn with any adapter, lavapipe included): engine suites
 * run their webgpu cases when it can and skip them with the reason when no adapter can be created.
 */
import { initBackend } from "../../src/engine/runtime/index.ts";

let probe: Promise<string | undefined> | undefined;

/** Resolves to undefined when webgpu starts, else to the reason; leaves the wasm backend current. */
export function webgpuUnavailable(): Promise<string | undefined> {
  probe ??= (async () => {
    try {
      await initBackend("webgpu");
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      await initBackend("wasm");
    }
  })();
  return probe;
}

/** The reason webgpu is unavailable, resolved at import (for describe.skipIf), printed once when it is. */
export const WEBGPU_SKIP_REASON = await webgpuUnavailable();
if (WEBGPU_SKIP_REASON) console.warn(`webgpu cases skipped: ${WEBGPU_SKIP_REASON}`);
