/**
 * A PostgreSQL server of one test file's own (its folder, its port), started through
 * scripts/ci/postgres.sh, so the test can stop, restart or kill it without touching the server the
 * other suites share. Available where the PostgreSQL binaries are (the suite is skipped otherwise).
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "ci", "postgres.sh");

/** The folder of PostgreSQL's server binaries, or undefined where none is installed. */
export const POSTGRES_BINDIR: string | undefined = (() => {
  const base = "/usr/lib/postgresql";
  if (!fs.existsSync(base)) return undefined;
  const versions = fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, "bin", "pg_ctl")));
  versions.sort((a, b) => Number(a) - Number(b));
  return versions.length > 0 ? path.join(base, versions[versions.length - 1], "bin") : undefined;
})();

export interface PrivatePostgres {
  /** postgres://… of the server's vcm_test database. */
  readonly url: string;
  readonly port: number;
  /** Stops the server (fast shutdown: clients are disconnected). */
  stop(): void;
  /** Starts it again on the same port and folder. */
  start(): void;
  /** `pg_ctl restart` (fast mode). */
  restart(): void;
  /** Kills the postmaster with SIGKILL (a crash, not a shutdown). */
  kill(): void;
  /** Runs one SQL statement through psql and returns its rows as lines (tab-separated fields). */
  psql(sql: string): string[];
  /** Stops the server and removes its folder. */
  destroy(): void;
}

function asPostgres(command: string, args: ReadonlyArray<string>): string {
  const argv = process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", command, ...args]] as const : [command, args] as const;
  return execFileSync(argv[0], [...argv[1]], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Starts a private server; throws when PostgreSQL is not installed (check POSTGRES_BINDIR first). */
export function startPrivatePostgres(): PrivatePostgres {
  if (POSTGRES_BINDIR === undefined) throw new Error("PostgreSQL's server binaries are not installed");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-private-pg-"));
  fs.chmodSync(dir, 0o777);
  const out = execFileSync("bash", [SCRIPT, "start", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const url = /VCM_TEST_POSTGRES_URL=(\S+)/.exec(out)?.[1];
  if (url === undefined) throw new Error(`postgres.sh printed no URL: ${out}`);
  const port = Number(new URL(url).port);
  const data = path.join(dir, "data");
  const ctl = path.join(POSTGRES_BINDIR, "pg_ctl");
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const server: PrivatePostgres = {
    url,
    port,
    stop: () => void asPostgres(ctl, ["-D", data, "-m", "fast", "-w", "stop"]),
    start: () => void asPostgres(ctl, ["-D", data, "-l", path.join(dir, "server.log"), "-w", "-t", "60", "-o", options, "start"]),
    restart: () => void asPostgres(ctl, ["-D", data, "-l", path.join(dir, "server.log"), "-m", "fast", "-w", "-t", "60", "-o", options, "restart"]),
    kill: () => {
      // The postmaster and its backends at once, as a machine's crash would; start() then recovers.
      const pid = Number(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]);
      const children = spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
      for (const id of [pid, ...children]) {
        try {
          process.kill(id, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      const alive = (id: number) => {
        try {
          process.kill(id, 0);
          return true;
        } catch {
          return false;
        }
      };
      const deadline = Date.now() + 10_000;
      while ([pid, ...children].some(alive) && Date.now() < deadline) spawnSync("sleep", ["0.05"]);
    },
    psql: (sql) =>
      asPostgres(path.join(POSTGRES_BINDIR!, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-qAt", "-F", "\t", "-c", sql])
        .split("\n")
        .filter((line) => line.length > 0),
    destroy: () => {
      spawnSync("bash", [SCRIPT, "stop", dir], { stdio: "ignore" });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
