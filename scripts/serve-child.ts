/**
 * `vcm serve --json` (the real bin) as a child process of a benchmark: started on the given
 * environment, resolved once it listens, with its GraphQL endpoint.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A started server. */
export interface ServeChild {
  readonly child: ChildProcess;
  /** Its GraphQL endpoint, http://127.0.0.1:PORT/graphql. */
  readonly url: string;
  /** The JSON line `vcm serve --json` printed once it listened. */
  readonly summary: Record<string, any>;
  /** What it wrote on stdout so far (the JSON line, then the request log). */
  stdout(): string;
  /** What it wrote on stderr so far. */
  stderr(): string;
}

/**
 * Starts `vcm serve --port 0 … --json` with `env` (and `args`, e.g. --trust-proxy) and resolves once it
 * listens (rejects, with its stderr, if it exits first); `onSpawn` sees the process at once, for cleanup.
 */
export function serveChild(env: NodeJS.ProcessEnv, options: { args?: ReadonlyArray<string>; onSpawn?: (child: ChildProcess) => void } = {}): Promise<ServeChild> {
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "vcm.js"), "serve", "--port", "0", ...(options.args ?? []), "--json"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  options.onSpawn?.(child);
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split("\n").find((text) => text.startsWith("{"));
      if (line === undefined) return;
      const summary = JSON.parse(line) as Record<string, any> & { graphql: string };
      resolve({ child, url: summary.graphql, summary, stdout: () => stdout, stderr: () => stderr });
    });
    child.once("exit", (code) => reject(new Error(`vcm serve exited with ${code}: ${stderr.slice(-2000)}`)));
  });
}
