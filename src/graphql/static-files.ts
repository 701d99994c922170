/**
 * Static files the server hands out (the IDE's, the dashboard's): a fixed map of names, so no request
 * can reach any other path, read on first use and kept in memory.
 */
import { readFile } from "node:fs/promises";

/** A static response: its content type and body. */
export interface StaticResponse {
  readonly type: string;
  readonly body: string | Buffer;
}

/** The files by name; null for a name that is not one of them. */
export class StaticFiles {
  private readonly cache = new Map<string, Promise<Buffer>>();

  constructor(private readonly files: Readonly<Record<string, { readonly file: string; readonly type: string }>>) {}

  async get(name: string): Promise<StaticResponse | null> {
    const entry = Object.hasOwn(this.files, name) ? this.files[name] : undefined;
    if (entry === undefined) return null;
    let body = this.cache.get(name);
    if (body === undefined) {
      // A failed read is not cached, so the next request tries the file again.
      body = readFile(entry.file).catch((error: unknown) => {
        this.cache.delete(name);
        throw error;
      });
      this.cache.set(name, body);
    }
    return { type: entry.type, body: await body };
  }
}
