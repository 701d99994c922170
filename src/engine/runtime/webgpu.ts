/**
 * Starts tfjs's webgpu backend on Dawn's Node.js bindings (the optional `webgpu` package, docs/model.md §3):
 * Dawn's globals and `navigator.gpu` must exist before `@tensorflow/tfjs-backend-webgpu` is imported,
 * which registers the backend only when it sees them. A software adapter (Mesa's lavapipe, SwiftShader)
 * is used only when asked for, since it is slower than the wasm backend.
 */
import * as tf from "@tensorflow/tfjs";
import { withNativeStderrMuted } from "./quiet-stderr.ts";

/** The GPU adapter that the webgpu backend runs on, as Dawn describes it. */
export interface WebGpuAdapter {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True for a software (CPU) adapter such as lavapipe. */
  readonly fallback: boolean;
}

/**
 * Why webgpu did not start: `no-adapter` and `software-only` are where a machine's own GPU setup
 * (Vulkan's loader and driver) is the likely cause, `no-gpu` where the automatic choice did not ask
 * Dawn at all, the others are this installation's.
 */
export type WebGpuFailure = "no-gpu" | "no-package" | "no-dawn" | "no-adapter" | "software-only" | "no-device";

export type WebGpuOpening = { ok: true; adapter: WebGpuAdapter } | { ok: false; failure: WebGpuFailure; reason: string };

/** The automatic choice's answer on a machine that shows no GPU, where Dawn would find at most a software adapter and print warnings. */
export const NO_GPU_IN_SIGHT: WebGpuOpening = Object.freeze({
  ok: false,
  failure: "no-gpu",
  reason: "this machine shows no GPU (no NVIDIA, AMD or Intel device node), so Dawn was not asked; VCM_BACKEND=webgpu asks it anyway",
});

interface GpuAdapterLike {
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean; type?: string };
  readonly isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}
interface WebGpuPackage {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/**
 * Dawn's instance is process-wide (it runs its own event processing), so one is made per process and
 * set of flags, and reused by every later attempt.
 */
const instances = new Map<string, GpuLike>();

function dawnInstance(o: { pkg: WebGpuPackage; flags: ReadonlyArray<string> }): GpuLike {
  const key = o.flags.join(",");
  let gpu = instances.get(key);
  if (!gpu) {
    gpu = o.pkg.create([...o.flags]);
    instances.set(key, gpu);
  }
  return gpu;
}

/**
 * Whether the flags ask for Dawn's own messages (`verbose=…`, which dawn.node takes whatever its value):
 * then its warnings reach stderr and its choice of adapter stdout; otherwise they are kept out.
 */
export function dawnVerbose(flags: ReadonlyArray<string>): boolean {
  return flags.some((f) => f.startsWith("verbose="));
}

/** Words in a software adapter's description, for Dawn builds whose adapter info lacks the flag. */
const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;

/**
 * Finds an adapter and makes webgpu the tfjs backend on it; answers with the reason, as a clause a
 * person can act on, when there is none (or only a software one and `allowFallback` is false).
 */
export async function openWebGpu(options: { flags: ReadonlyArray<string>; allowFallback: boolean }): Promise<WebGpuOpening> {
  let pkg: WebGpuPackage;
  try {
    // A variable specifier keeps tsc and bundlers from requiring the optional package to exist.
    const specifier: string = "webgpu";
    pkg = (await import(specifier)) as WebGpuPackage;
  } catch {
    return { ok: false, failure: "no-package", reason: "the optional package webgpu (Dawn's Node.js bindings) is not installed or cannot load on this platform; run npm ci on linux-x64, linux-arm64, macOS or Windows" };
  }
  let gpu: GpuLike;
  let found: GpuAdapterLike | null;
  try {
    // Dawn enumerates adapters, and prints its warnings, synchronously in the first request of an instance.
    const request = (): { gpu: GpuLike; adapter: Promise<GpuAdapterLike | null> } => {
      const instance = dawnInstance({ pkg, flags: options.flags });
      return { gpu: instance, adapter: instance.requestAdapter({ powerPreference: "high-performance" }) };
    };
    const requested = dawnVerbose(options.flags) ? request() : await withNativeStderrMuted(request);
    gpu = requested.gpu;
    found = await requested.adapter;
  } catch (error) {
    return { ok: false, failure: "no-dawn", reason: `Dawn could not start (${error instanceof Error ? error.message.split("\n")[0] : String(error)})` };
  }
  if (!found) {
    return {
      ok: false,
      failure: "no-adapter",
      reason:
        "Dawn found no GPU adapter: it needs the Vulkan loader (apt-get install -y libvulkan1) and a Vulkan driver for the GPU (NVIDIA's driver brings one; for a software adapter, mesa-vulkan-drivers 25 from bookworm-backports)",
    };
  }
  const info = found.info ?? {};
  const adapter: WebGpuAdapter = {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    fallback: Boolean(info.isFallbackAdapter ?? found.isFallbackAdapter) || info.type === "CPU" || SOFTWARE.test(`${info.description ?? ""} ${info.device ?? ""}`),
  };
  if (adapter.fallback && !options.allowFallback) {
    return { ok: false, failure: "software-only", reason: `Dawn found only a software adapter (${adapter.description || adapter.device || adapter.vendor}), which is slower than wasm; set VCM_BACKEND=webgpu to use it anyway` };
  }
  Object.assign(globalThis, pkg.globals);
  // Node 20 has no navigator; later versions have one whose gpu is missing, so define it either way.
  Object.defineProperty(globalThis, "navigator", { value: { ...(globalThis as { navigator?: object }).navigator, gpu }, configurable: true, writable: true });
  try {
    const specifier: string = "@tensorflow/tfjs-backend-webgpu";
    await import(specifier);
  } catch {
    return { ok: false, failure: "no-package", reason: "the optional package @tensorflow/tfjs-backend-webgpu is not installed; run npm ci" };
  }
  if (!tf.findBackendFactory("webgpu")) return { ok: false, failure: "no-package", reason: "@tensorflow/tfjs-backend-webgpu did not register (it was imported before Dawn was set up)" };
  let started = false;
  try {
    started = await tf.setBackend("webgpu");
  } catch {
    started = false;
  }
  if (!started) return { ok: false, failure: "no-device", reason: `tfjs could not create a WebGPU device on ${adapter.description || adapter.vendor}` };
  await tf.ready();
  return { ok: true, adapter };
}
