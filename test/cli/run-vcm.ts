import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";

/** The real `vcm` bin, as users run it. */
export const VCM_BIN = path.resolve("scripts", "vcm.js");

/** What one `vcm` run gave back. */
export interface VcmRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON ({} when it is not JSON). */
  last: Record<string, any>;
}

/** The last stdout line parsed as JSON ({} when it is not JSON). */
function lastJson(stdout: string): Record<string, any> {
  try {
    return JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
  } catch {
    return {};
  }
}

/** Runs the `vcm` bin to completion in a child process with the given environment. */
export function runVcm(args: string[], env: NodeJS.ProcessEnv): VcmRun {
  const result = spawnSync(process.execPath, [VCM_BIN, ...args], { encoding: "utf8", env });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, last: lastJson(result.stdout) };
}

/** Runs the `vcm` bin without blocking the test (servers and the test's polling go on meanwhile); `started` collects it for cleanup. */
export function runVcmAsync(args: string[], o: { env: NodeJS.ProcessEnv; started: ChildProcess[] }): Promise<VcmRun> {
  const child = spawn(process.execPath, [VCM_BIN, ...args], { env: o.env, stdio: ["ignore", "pipe", "pipe"] });
  o.started.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr, last: lastJson(stdout) })));
}
