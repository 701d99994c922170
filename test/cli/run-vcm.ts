import { spawnSync } from "node:child_process";
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

/** Runs the `vcm` bin to completion in a child process with the given environment. */
export function runVcm(args: string[], env: NodeJS.ProcessEnv): VcmRun {
  const result = spawnSync(process.execPath, [VCM_BIN, ...args], { encoding: "utf8", env });
  const lines = result.stdout.trim().split("\n");
  let last: Record<string, any> = {};
  try {
    last = JSON.parse(lines[lines.length - 1]);
  } catch {
    last = {};
  }
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, last };
}
