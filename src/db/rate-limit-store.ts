/**
 * The rate limiter's PostgreSQL store client (src/graphql/rate-limits.ts, table rate_limits): the
 * library's statements run through TypeORM's own connections, which survive a database restart, rather
 * than through the pool's bare clients, whose 'error' event while a restart cuts them would end the process.
 */
import type { DataSource } from "typeorm";

/** What rate-limiter-flexible's PostgreSQL store calls, in the shape of a pg pool's `query`. */
export interface RateLimitStoreClient {
  query(statement: { text: string; values?: ReadonlyArray<unknown> }): Promise<{ rows: unknown[]; rowCount: number }>;
}

export function rateLimitStoreClient(dataSource: DataSource): RateLimitStoreClient {
  return {
    async query(statement) {
      const result: unknown = await dataSource.query(statement.text, statement.values === undefined ? undefined : [...statement.values]);
      // TypeORM answers rows, or [rows, count] for UPDATE and DELETE.
      const rows = Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === "number" ? (result[0] as unknown[]) : (result as unknown[]);
      return { rows, rowCount: rows.length };
    },
  };
}
