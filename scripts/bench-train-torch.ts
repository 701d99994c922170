/**
 * The PyTorch yardstick of `npm run bench:train` (docs/model.md §4): runs ../shared/bench/vcm_torch.py on
 * the same random shape, relays its lines, and samples its peak resident size.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";

// VCM_TORCH_SCRIPT and VCM_TORCH_PYTHON point elsewhere (the GPU kit, scripts/gpu-kit/, carries a copy).
const TORCH_SCRIPT = process.env.VCM_TORCH_SCRIPT ?? path.resolve(import.meta.dirname, "..", "..", "shared", "bench", "vcm_torch.py");
const PYTHON = process.env.VCM_TORCH_PYTHON ?? "/usr/bin/python3";

/** The random-data shape both sides train on. */
export interface BenchShape {
  readonly users: number;
  readonly items: number;
  readonly vocab: number;
  readonly clicksPerUser: number;
  readonly wordsPerUser: number;
}

export type TorchRun =
  | { readonly ok: true; readonly seconds: number[]; readonly peakKb: number; readonly threads: number; readonly blas: string; readonly command: string }
  | { readonly ok: false; readonly reason: string };

/**
 * Which BLAS Debian's torch gets through the libblas.so.3 alternative: with only the reference
 * (netlib) BLAS installed its matMuls are several times slower, and so is the yardstick.
 */
export function blasLibrary(): string {
  try {
    const target = fs.realpathSync("/usr/lib/x86_64-linux-gnu/libblas.so.3");
    if (target.includes("openblas")) return `OpenBLAS (${target})`;
    return `${target} — the reference BLAS: the yardstick is several times slower with it; apt-get install -y libopenblas0-pthread`;
  } catch {
    return "unknown (no /usr/lib/x86_64-linux-gnu/libblas.so.3)";
  }
}

/** Runs the PyTorch yardstick on the same shape; says why not when python3-torch or the script is missing. */
export async function runTorch(options: { shape: BenchShape; epochs: number; seed: number; threads: number; device?: "cpu" | "cuda" }): Promise<TorchRun> {
  if (!fs.existsSync(TORCH_SCRIPT)) return { ok: false, reason: `${TORCH_SCRIPT} is not there` };
  const device = options.device ?? "cpu";
  // One start of Python answers both: whether torch imports, and (for cuda) which GPU it sees.
  const probe = spawnSync(PYTHON, ["-c", `import torch, numpy${device === "cuda" ? "; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" : ""}`], {
    encoding: "utf8",
  });
  if (probe.status !== 0) {
    return { ok: false, reason: `${PYTHON} cannot import torch (install Debian's python3-torch: apt-get install -y python3-torch)` };
  }
  if (device === "cuda") {
    const name = probe.stdout.trim();
    if (name === "") return { ok: false, reason: `${PYTHON}'s torch has no CUDA device` };
    console.log(`# PyTorch's GPU: ${name}`);
  }
  const blas = device === "cuda" ? "CUDA" : blasLibrary();
  console.log(`# PyTorch's BLAS: ${blas}`);
  const { shape } = options;
  const args = [
    TORCH_SCRIPT,
    "--users", String(shape.users),
    "--items", String(shape.items),
    "--vocab", String(shape.vocab),
    "--clicks-per-user", String(shape.clicksPerUser),
    "--words-per-user", String(shape.wordsPerUser),
    "--epochs", String(options.epochs),
    "--seed", String(options.seed),
    "--threads", String(options.threads),
    ...(device === "cuda" ? ["--device", "cuda"] : []),
  ];
  const command = `${PYTHON} ${args.map((x) => (path.isAbsolute(x) ? path.relative(process.cwd(), x) : x)).join(" ")}`;
  console.log(`# running ${command}`);
  const child = spawn(PYTHON, args, { stdio: ["ignore", "pipe", "inherit"] });
  let peakKb = 0;
  // Linux keeps a process's peak resident size in VmHWM; sampling it is enough for a figure in MB.
  const poll = setInterval(() => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, "utf8"));
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // The process has just exited.
    }
  }, 200);
  const seconds: number[] = [];
  let threads = options.threads;
  const code = await relayLines(child, (line) => {
    console.log(`  pytorch | ${line}`);
    const epoch = /^epoch \d+: seconds=([\d.]+)/.exec(line);
    if (epoch) seconds.push(Number(epoch[1]));
    const reported = /threads=(\d+)/.exec(line);
    if (line.startsWith("# torch") && reported) threads = Number(reported[1]);
  });
  clearInterval(poll);
  if (code !== 0 || seconds.length === 0) return { ok: false, reason: `the PyTorch run failed (exit code ${code})` };
  return { ok: true, seconds, peakKb, threads, blas, command };
}

/** Calls `onLine` for each stdout line of `child` and resolves to its exit code. */
export async function relayLines(child: ChildProcessByStdio<null, Readable, null>, onLine: (line: string) => void): Promise<number | null> {
  let pending = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    pending += chunk;
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf("\n");
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (pending !== "") onLine(pending);
  return code;
}
