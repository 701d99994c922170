/**
 * Keeps what native code writes to file descriptor 2 out of the user's terminal for the length of one
 * synchronous call: Dawn prints warnings a user cannot act on (a Vulkan loader it could not open, limits
 * it lowered for lavapipe) with fprintf(stderr) from C++, past process.stderr, while it enumerates
 * adapters. Node has no dup2, so libc's is called through koffi (an optional package).
 */
import fs from "node:fs";
import os from "node:os";

interface Libc {
  dup(fd: number): number;
  dup2(from: number, to: number): number;
}

interface KoffiLike {
  load(path: string): { func(signature: string): (...args: number[]) => number };
}

/** The C libraries koffi can open by name; elsewhere (Windows, musl) Dawn's lines pass through. */
const LIBC: Readonly<Partial<Record<NodeJS.Platform, string>>> = { linux: "libc.so.6", darwin: "libSystem.B.dylib" };

async function loadLibc(): Promise<Libc | undefined> {
  const name = LIBC[process.platform];
  if (name === undefined) return undefined;
  try {
    // A variable specifier keeps tsc and bundlers from requiring the optional package to exist.
    const specifier: string = "koffi";
    const koffi = (await import(specifier)) as KoffiLike;
    const libc = koffi.load(name);
    return { dup: libc.func("int dup(int)"), dup2: libc.func("int dup2(int, int)") };
  } catch {
    return undefined;
  }
}

/**
 * Runs `call` with descriptor 2 pointed at the null device, then points it back; only what runs
 * synchronously inside `call` is silenced. Where libc cannot be reached, `call` runs as it is.
 */
export async function withNativeStderrMuted<T>(call: () => T): Promise<T> {
  const libc = await loadLibc();
  const saved = libc ? libc.dup(2) : -1;
  if (!libc || saved < 0) return call();
  const sink = fs.openSync(os.devNull, "w");
  try {
    libc.dup2(sink, 2);
    return call();
  } finally {
    libc.dup2(saved, 2);
    fs.closeSync(saved);
    fs.closeSync(sink);
  }
}
