import type { Command } from "commander";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { API_KEY_ROLES, createApiKey, listApiKeys, revokeApiKey, type ApiKeySummary } from "../../src/services/api-keys.ts";
import { withDatabase } from "../with-database.ts";
import type { CliIo, CommandModule } from "./command-module.ts";

/** Parses `--rate REQUESTS[/COST]`: requests per minute, and optionally estimated query cost per minute. */
function parseRate(value: string | undefined): { rateRequests?: number; rateCost?: number } {
  if (value === undefined) return {};
  const match = /^(\d+)(?:\/(\d+))?$/.exec(value.trim());
  if (match === null) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--rate is REQUESTS or REQUESTS/COST per minute (e.g. 600 or 600/2000000), got "${value}".`);
  }
  return { rateRequests: Number(match[1]), rateCost: match[2] === undefined ? undefined : Number(match[2]) };
}

function formatKeys(keys: ReadonlyArray<ApiKeySummary>): string {
  if (keys.length === 0) return "No API key exists; vcm keys create --name NAME --role analyst|admin makes one.";
  const header = ["name", "role", "created", "last used", "rate (requests/cost per minute)"];
  const rows = keys.map((k) => [k.name, k.role, k.created, k.lastUsed ?? "never", `${k.rateRequests ?? "default"}/${k.rateCost ?? "default"}`]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

const DB_HELP = "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)";

/** `vcm keys create|list|revoke`: API keys with roles, stored as salted hashes in the database. */
export const keysCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    const keys = program.command("keys").description("API keys with roles: create (printed once), list, revoke");
    keys
      .command("create")
      .description("create an API key and print it once (only a salted hash is stored)")
      .requiredOption("--name <name>", "the key's name: letters, digits, '.', '-' or '_'")
      .requiredOption("--role <role>", `${API_KEY_ROLES.join(" or ")}: analysts read, admins also run mutations`)
      .option("--rate <requests[/cost]>", "this key's limits per minute: requests, and optionally estimated query cost (default: the server's)")
      .option("--db <path>", DB_HELP)
      .option("--json", "print one JSON line on stdout")
      .action(async (flags: { name: string; role: string; rate?: string; db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () => withDatabase(flags, (dataSource) => createApiKey(dataSource, { name: flags.name, role: flags.role, ...parseRate(flags.rate) })),
          text: (created) =>
            [`Created the ${created.role} key ${created.name}. It is shown only now; keep it somewhere safe:`, "", created.key, "", 'Send it as "Authorization: Bearer <key>".'].join("\n"),
        });
      });
    keys
      .command("list")
      .description("list API keys: name, role, created, last used (never the keys themselves)")
      .option("--db <path>", DB_HELP)
      .option("--json", "print one JSON line on stdout")
      .action(async (flags: { db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () => withDatabase(flags, async (dataSource) => ({ keys: await listApiKeys(dataSource) })),
          text: (result) => formatKeys(result.keys),
        });
      });
    keys
      .command("revoke")
      .description("revoke an API key: every server refuses it within a second")
      .argument("<name>", "the key's name")
      .option("--db <path>", DB_HELP)
      .option("--json", "print one JSON line on stdout")
      .action(async (name: string, flags: { db?: string; json?: boolean }) => {
        await io.run({
          json: flags.json === true,
          body: () => withDatabase(flags, async (dataSource) => {
            await revokeApiKey(dataSource, name);
            return { revoked: name };
          }),
          text: (result) => `Revoked the key ${result.revoked}; every server refuses it within a second.`,
        });
      });
  },
};
