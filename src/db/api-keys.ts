/**
 * The rows of API keys (src/services/api-keys.ts owns what they mean): insert, list, find by public
 * id, delete by name, and the last-used time.
 */
import type { DataSource } from "typeorm";
import { ApiKey } from "./entities/api-key.entity.ts";

/** A key's row as the services read it. */
export interface ApiKeyRow {
  readonly id: number;
  readonly name: string;
  readonly keyId: string;
  readonly role: string;
  readonly salt: string;
  readonly hash: string;
  readonly rateRequests: number | null;
  readonly rateCost: number | null;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

/** Inserts a key; false when a key of that name exists already. */
export async function insertApiKey(dataSource: DataSource, row: Omit<ApiKeyRow, "id" | "createdAt" | "lastUsedAt">): Promise<boolean> {
  const repository = dataSource.getRepository(ApiKey);
  if ((await repository.countBy({ name: row.name })) > 0) return false;
  await repository.insert({ ...row });
  return true;
}

/** Every key, oldest first. */
export async function listApiKeys(dataSource: DataSource): Promise<ApiKeyRow[]> {
  return dataSource.getRepository(ApiKey).find({ order: { createdAt: "ASC", id: "ASC" } });
}

/** The key with this public id, or null. */
export async function apiKeyById(dataSource: DataSource, keyId: string): Promise<ApiKeyRow | null> {
  return dataSource.getRepository(ApiKey).findOneBy({ keyId });
}

/** Deletes the key of that name; false when there was none. */
export async function deleteApiKey(dataSource: DataSource, name: string): Promise<boolean> {
  const deleted = await dataSource.getRepository(ApiKey).delete({ name });
  return (deleted.affected ?? 0) > 0;
}

/** Whether any key exists. */
export async function anyApiKey(dataSource: DataSource): Promise<boolean> {
  return (await dataSource.getRepository(ApiKey).count({ take: 1 })) > 0;
}

/** Records when a key was last used. */
export async function touchApiKey(dataSource: DataSource, keyId: string, at: Date): Promise<void> {
  await dataSource.getRepository(ApiKey).update({ keyId }, { lastUsedAt: at });
}
