/**
 * API keys with roles: create (the key is shown once; only a salted scrypt hash is stored), list and
 * revoke them, and check a presented key. A key reads `vcm_<id>_<secret>`: the public id finds its row
 * by an index, so checking a key reads one row and hashes once; the checker keeps what it read for at
 * most KEY_CACHE_MS, so a key revoked on any server stops working everywhere within that time.
 */
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { DataSource } from "typeorm";
import { anyApiKey, apiKeyById, deleteApiKey, insertApiKey, listApiKeys as listApiKeyRows, touchApiKey, type ApiKeyRow } from "../db/api-keys.ts";
import { ErrorCode, UserError } from "../errors.ts";

const scrypt = promisify(scryptCallback) as (secret: string, salt: Buffer, length: number) => Promise<Buffer>;

/** The roles a key may have: an analyst reads everything; an admin also runs mutations. */
export const API_KEY_ROLES = ["analyst", "admin"] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** How long a server trusts what it read about a key (and whether any key exists): a revocation's reach. */
export const KEY_CACHE_MS = 1_000;
/** How often, at most, a server writes a key's last-used time, so that reads do not turn into writes. */
export const LAST_USED_EVERY_MS = 60_000;

/** Longest API key name, in characters. */
export const MAX_KEY_NAME_LENGTH = 64;
/** What an API key name may hold: letters, digits, dot, dash and underscore, starting with a letter or digit. */
const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Checks an API key's name: 1 to MAX_KEY_NAME_LENGTH letters, digits, `.`, `-` or `_`. */
export function checkKeyName(name: string): string {
  if (name.length === 0 || name.length > MAX_KEY_NAME_LENGTH || !KEY_NAME_PATTERN.test(name)) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `A key name is 1 to ${MAX_KEY_NAME_LENGTH} letters, digits, ".", "-" or "_", starting with a letter or digit; got ${JSON.stringify(name.slice(0, MAX_KEY_NAME_LENGTH + 8))}.`,
    );
  }
  return name;
}

/** Highest per-key override of either rate, so that the counters stay within a 32-bit integer column. */
export const MAX_RATE_PER_MINUTE = 1_000_000_000;

/** Checks a per-key rate override (a positive whole number per minute, at most MAX_RATE_PER_MINUTE). */
export function checkRate(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_RATE_PER_MINUTE) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} must be a whole number from 1 to ${MAX_RATE_PER_MINUTE} per minute, got ${value}.`);
  }
  return value;
}

/** Bytes of the hash, the salt and the secret. */
const HASH_BYTES = 32;
const SALT_BYTES = 16;
const SECRET_BYTES = 32;
/** A key as `vcm keys create` prints it: 16 hex digits of public id, then 43 base64url characters of secret. */
const KEY_FORMAT = /^vcm_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A key that a request proved. */
export interface VerifiedKey {
  readonly name: string;
  readonly role: ApiKeyRole;
  /** Per-key overrides of the rate limits, or null for the defaults. */
  readonly rateRequests: number | null;
  readonly rateCost: number | null;
}

/** What `vcm keys list` shows of a key (never its hash). */
export interface ApiKeySummary {
  readonly name: string;
  readonly role: string;
  readonly created: string;
  readonly lastUsed: string | null;
  readonly rateRequests: number | null;
  readonly rateCost: number | null;
}

/** Whether a text is one of the roles. */
export function isApiKeyRole(text: string): text is ApiKeyRole {
  return (API_KEY_ROLES as ReadonlyArray<string>).includes(text);
}

/** Splits a key into its public id and secret; null when it does not have a key's shape. */
export function parseApiKey(text: string): { keyId: string; secret: string } | null {
  const match = KEY_FORMAT.exec(text);
  return match === null ? null : { keyId: match[1], secret: match[2] };
}

/** Creates a key and returns it: the only time the key itself is seen. */
export async function createApiKey(
  dataSource: DataSource,
  input: { name: string; role: string; rateRequests?: number; rateCost?: number },
): Promise<{ name: string; role: ApiKeyRole; key: string }> {
  const name = checkKeyName(input.name);
  if (!isApiKeyRole(input.role)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `A key's role is ${API_KEY_ROLES.join(" or ")}, got ${JSON.stringify(input.role)}.`);
  }
  const rateRequests = input.rateRequests === undefined ? null : checkRate(input.rateRequests, "The requests rate");
  const rateCost = input.rateCost === undefined ? null : checkRate(input.rateCost, "The cost rate");
  const keyId = randomBytes(8).toString("hex");
  const secret = randomBytes(SECRET_BYTES).toString("base64url");
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(secret, salt, HASH_BYTES);
  const inserted = await insertApiKey(dataSource, { name, keyId, role: input.role, salt: salt.toString("hex"), hash: hash.toString("hex"), rateRequests, rateCost });
  if (!inserted) throw new UserError(ErrorCode.CONFLICT, `A key named ${name} exists already; revoke it first (vcm keys revoke ${name}) or pick another name.`);
  return { name, role: input.role, key: `vcm_${keyId}_${secret}` };
}

/** Every key, oldest first, without hashes. */
export async function listApiKeys(dataSource: DataSource): Promise<ApiKeySummary[]> {
  return (await listApiKeyRows(dataSource)).map((row) => ({
    name: row.name,
    role: row.role,
    created: row.createdAt.toISOString(),
    lastUsed: row.lastUsedAt?.toISOString() ?? null,
    rateRequests: row.rateRequests,
    rateCost: row.rateCost,
  }));
}

/** Revokes (deletes) the key of that name; every server stops accepting it within KEY_CACHE_MS. */
export async function revokeApiKey(dataSource: DataSource, name: string): Promise<void> {
  if (!(await deleteApiKey(dataSource, checkKeyName(name)))) {
    throw new UserError(ErrorCode.NOT_FOUND, `No key is named ${name}; vcm keys list shows the keys.`);
  }
}

interface CachedKey {
  readonly row: ApiKeyRow | null;
  readonly readAt: number;
  /** SHA-256 of the secret that matched this row's scrypt hash, so a repeat needs no scrypt. */
  readonly proven: Buffer | undefined;
}

/**
 * Checks presented keys for one server. A key's row is read again once KEY_CACHE_MS has passed, so a
 * revoked key fails here within that time; scrypt runs once per key and secret, not per request.
 */
export class ApiKeyChecker {
  readonly #dataSource: DataSource;
  readonly #keys = new Map<string, CachedKey>();
  readonly #touched = new Map<string, number>();
  #anyKey: { value: boolean; readAt: number } | undefined;

  constructor(dataSource: DataSource) {
    this.#dataSource = dataSource;
  }

  /** Whether any key exists (read at most once per KEY_CACHE_MS). */
  async anyKey(): Promise<boolean> {
    const now = Date.now();
    if (this.#anyKey === undefined || now - this.#anyKey.readAt >= KEY_CACHE_MS) this.#anyKey = { value: await anyApiKey(this.#dataSource), readAt: now };
    return this.#anyKey.value;
  }

  /** The key a presented text proves, or null for a malformed, wrong or revoked one. */
  async check(text: string): Promise<VerifiedKey | null> {
    const parsed = parseApiKey(text);
    if (parsed === null) return null;
    const now = Date.now();
    let cached = this.#keys.get(parsed.keyId);
    if (cached === undefined || now - cached.readAt >= KEY_CACHE_MS) {
      const row = await apiKeyById(this.#dataSource, parsed.keyId);
      // A row that is unchanged keeps what was proven about it; unknown ids are not kept, so guesses cannot fill the map.
      const proven = row !== null && cached?.row?.hash === row.hash ? cached.proven : undefined;
      cached = { row, readAt: now, proven };
      if (row === null) this.#keys.delete(parsed.keyId);
      else this.#keys.set(parsed.keyId, cached);
    }
    const row = cached.row;
    if (row === null || !isApiKeyRole(row.role)) return null;
    const digest = createHash("sha256").update(parsed.secret).digest();
    if (cached.proven === undefined || !timingSafeEqual(cached.proven, digest)) {
      const hash = await scrypt(parsed.secret, Buffer.from(row.salt, "hex"), HASH_BYTES);
      if (!timingSafeEqual(hash, Buffer.from(row.hash, "hex"))) return null;
      this.#keys.set(parsed.keyId, { ...cached, proven: digest });
    }
    await this.#touch(row.keyId, now);
    return { name: row.name, role: row.role, rateRequests: row.rateRequests, rateCost: row.rateCost };
  }

  async #touch(keyId: string, now: number): Promise<void> {
    if (now - (this.#touched.get(keyId) ?? -Infinity) < LAST_USED_EVERY_MS) return;
    this.#touched.set(keyId, now);
    try {
      await touchApiKey(this.#dataSource, keyId, new Date(now));
    } catch {
      // The last-used time is a hint: a busy or absent database must not fail the request it describes.
      this.#touched.delete(keyId);
    }
  }
}
