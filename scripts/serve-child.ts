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
}

/** Starts `vcm serve --port 0 --json` with `env` and resolves once it listens (rejects, with its stderr, if it exits first). */
export function serveChild(env: NodeJS.ProcessEnv): Promise<ServeChild> {
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "vcm.js"), "serve", "--port", "0", "--json"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split("\n").find((text) => text.startsWith("{"));
      if (line !== undefined) resolve({ child, url: (JSON.parse(line) as { graphql: string }).graphql });
    });
    child.once("exit", (code) => reject(new Error(`vcm serve exited with ${code}: ${stderr.slice(-2000)}`)));
  });
}
