/**
 * Persisted operations (issue 26, item 8): the operations the dashboard sends, registered at build time
 * in a committed manifest (Apollo's persisted query manifest format, each id the SHA-256 of its body,
 * written by `npm run persisted-operations`), and the rule of `vcm serve --persisted-only`: a request
 * that may not run mutations (an analyst key, a read without a key) runs only a registered operation;
 * admins keep ad-hoc queries. Apollo's automatic persisted queries stay as they are: they let any client
 * register any query at run time, so they save bandwidth but protect nothing.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ErrorCode, UserError } from "../errors.ts";

/** The committed manifest, beside the dashboard whose operations it holds. */
export const PERSISTED_OPERATIONS_FILE = path.join(import.meta.dirname, "dashboard", "persisted-operations.json");

/** The manifest's `format` field, as Apollo's tools write and read it. */
export const MANIFEST_FORMAT = "apollo-persisted-query-manifest";

/** What a request that may not run this operation under `--persisted-only` is told. */
export const PERSISTED_ONLY_MESSAGE =
  "This server runs only registered operations (the dashboard's) for analyst keys and reads without a key (vcm serve --persisted-only): send a registered operation or its id, register a new dashboard query with npm run persisted-operations, or use an admin key for ad-hoc queries.";

/** One registered operation. */
export interface PersistedOperation {
  /** Lowercase hex SHA-256 of `body`. */
  readonly id: string;
  readonly name: string;
  readonly type: "query" | "mutation" | "subscription";
  /** The document exactly as the client sends it. */
  readonly body: string;
}

/** The manifest file's content. */
export interface PersistedManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: 1;
  readonly operations: ReadonlyArray<PersistedOperation>;
}

/** The id of a document: the lowercase hex SHA-256 of its exact text (as Apollo's `queryHash`). */
export function operationId(body: string): string {
  return createHash("sha256").update(body).digest("hex");
}

/** The hash of an `extensions.persistedQuery` (a request that sends an id instead of, or with, the text). */
function persistedHash(extensions: unknown): string | undefined {
  const hash = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | null | undefined)?.persistedQuery?.sha256Hash;
  return typeof hash === "string" ? hash : undefined;
}

/** The registered operations of one server, read from the manifest at start. */
export class PersistedOperations {
  readonly #bodies: ReadonlyMap<string, string>;
  /** Whether only registered operations run for requests that may not run mutations (`--persisted-only`). */
  readonly only: boolean;

  constructor(options: { manifest: PersistedManifest; only: boolean }) {
    for (const operation of options.manifest.operations) {
      if (operationId(operation.body) !== operation.id) throw new Error(`persisted operation ${operation.name}: its id is not the SHA-256 of its body`);
    }
    this.#bodies = new Map(options.manifest.operations.map((operation) => [operation.id, operation.body]));
    this.only = options.only;
  }

  /** The committed manifest's operations. */
  static load(options: { only: boolean; file?: string }): PersistedOperations {
    const manifest = JSON.parse(fs.readFileSync(options.file ?? PERSISTED_OPERATIONS_FILE, "utf8")) as PersistedManifest;
    if (manifest.format !== MANIFEST_FORMAT || manifest.version !== 1) throw new Error(`${options.file ?? PERSISTED_OPERATIONS_FILE} is not a version 1 ${MANIFEST_FORMAT}`);
    return new PersistedOperations({ manifest, only: options.only });
  }

  /** How many operations are registered. */
  get size(): number {
    return this.#bodies.size;
  }

  /** The registered document a request names by `extensions.persistedQuery.sha256Hash` alone, if any. */
  registeredBody(request: { query?: unknown; extensions?: unknown }): string | undefined {
    if (request.query !== undefined) return undefined;
    const hash = persistedHash(request.extensions);
    return hash === undefined ? undefined : this.#bodies.get(hash);
  }

  /**
   * Throws PERSISTED_QUERY_ONLY when this server runs only registered operations, the caller may not run
   * mutations (`admin`, from its AuthState; unknown: it may not), and the request's document (its text,
   * or the id it sends) is not registered.
   */
  check(request: { admin: boolean | undefined; query?: unknown; extensions?: unknown }): void {
    if (!this.only || request.admin === true) return;
    const id = typeof request.query === "string" ? operationId(request.query) : persistedHash(request.extensions);
    if (id === undefined || !this.#bodies.has(id)) throw new UserError(ErrorCode.PERSISTED_QUERY_ONLY, PERSISTED_ONLY_MESSAGE);
  }
}
