import type { DataSource } from "typeorm";
import { loadAppConfig } from "../src/config.ts";
import { openDatabase } from "../src/db/data-source.ts";

/** Opens the database of a command's `--db` (or its default) for one command and always closes it. */
export async function withDatabase<T>(flags: { readonly db?: string }, body: (dataSource: DataSource) => Promise<T>): Promise<T> {
  const dataSource = await openDatabase(loadAppConfig({ dbPath: flags.db }).dbPath);
  try {
    return await body(dataSource);
  } finally {
    await dataSource.destroy();
  }
}
