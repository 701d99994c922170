import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from "typeorm";

/**
 * An API key (src/services/api-keys.ts): only its public id and a salted scrypt hash of its secret are
 * kept, so the key itself is shown once, when it is created. Revoking a key deletes its row.
 */
@Entity({ name: "api_keys" })
export class ApiKey {
  @PrimaryGeneratedColumn({ type: "integer" })
  id: number;

  @Column({ type: "text", unique: true })
  name: string;

  /** The key's public prefix, looked up by its index so that checking a key reads one row. */
  @Column({ type: "text", name: "key_id", unique: true })
  keyId: string;

  /** "analyst" (reads) or "admin" (reads and mutations). */
  @Column({ type: "text" })
  role: string;

  /** Hex of the random salt of the hash. */
  @Column({ type: "text" })
  salt: string;

  /** Hex of scrypt(secret, salt). */
  @Column({ type: "text" })
  hash: string;

  /** Requests per minute this key may make, or null for the default (src/graphql/limits.ts). */
  @Column({ type: "integer", name: "rate_requests", nullable: true })
  rateRequests: number | null;

  /** Estimated query cost per minute this key may spend, or null for the default. */
  @Column({ type: "integer", name: "rate_cost", nullable: true })
  rateCost: number | null;

  @CreateDateColumn({ type: "datetime", name: "created_at" })
  createdAt: Date;

  /** When the key was last used, written at most once a minute per key and server. */
  @Column({ type: "datetime", name: "last_used_at", nullable: true })
  lastUsedAt: Date | null;
}
