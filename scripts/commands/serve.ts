import type { Command } from "commander";
import { ErrorCode, faultAsUserError, UserError } from "../../src/errors.ts";
import { isFirstServer, isServeWorker, MAX_SERVE_WORKERS, reportToPrimary, serveWorkers, superviseWorkers } from "../../src/cluster/supervisor.ts";
import type { DemoProgress } from "../../src/services/demo.ts";
import { isLoopbackHost } from "../../src/graphql/auth.ts";
import { proxyList } from "../../src/config.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { APPROXIMATE_RETRIEVAL_MIN_ITEMS, RETRIEVAL_MODES, type RetrievalMode } from "../../src/engine/retrieval/retrieval-mode.ts";
import type { CliIo, CommandModule } from "./command-module.ts";

/** Parses `--port` (or `--metrics-port`, `flag`); commander hands options over as strings. */
function parsePort(value: string | undefined, flag = "--port"): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${flag} must be an integer from 0 to 65535, got "${value}".`);
  }
  return port;
}

/** Parses `--retrieval`. */
function parseRetrieval(value: string | undefined): RetrievalMode | undefined {
  if (value === undefined) return undefined;
  if (!(RETRIEVAL_MODES as ReadonlyArray<string>).includes(value)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `--retrieval must be one of ${RETRIEVAL_MODES.join(", ")}, got "${value}".`);
  }
  return value as RetrievalMode;
}

function progressLine(event: DemoProgress): string {
  if (event.kind === "message") return event.text;
  const r = event.record;
  return `  epoch ${String(r.epoch).padStart(3)}/${event.epochs}  validation NDCG@100 ${r.valNdcg100.toFixed(4)}  ${r.seconds.toFixed(2)} s`;
}

/** `vcm serve`: migrations, the demo data on an empty database, then the GraphQL API and its IDE. */
export const serveCommand: CommandModule = {
  register(program: Command, io: CliIo) {
    program
      .command("serve")
      .description("serve the GraphQL API and GraphiQL (an empty database first gets a demo dataset and a small model)")
      .option("--port <n>", "HTTP port (default: PORT or 4000; 0 picks a free one)")
      .option("--db <path>", "SQLite database file or postgres:// URL (default: VCM_DB or ./data/vcm.sqlite)")
      .option("--models-dir <path>", "folder of model checkpoints (default: VCM_MODELS_DIR or ./data/models)")
      .option("--host <address>", "interface to listen on (default 127.0.0.1; another address needs an API key to exist, or --public-read)")
      .option("--public-read", "on a non-loopback host, serve reads to anyone without a key (on purpose)")
      .option("--persisted-only", "analyst keys and reads without a key run only the dashboard's registered operations (admins keep ad-hoc queries)")
      .option("--metrics-port <n>", "also serve /metrics (no credential), /ready and /health on 127.0.0.1 at this port (0 picks a free one)")
      .option("--retrieval <mode>", `how users' items are ranked: ${RETRIEVAL_MODES.join(", ")} (default: VCM_RETRIEVAL or auto, approximate from ${APPROXIMATE_RETRIEVAL_MIN_ITEMS.toLocaleString("en-US")} items)`)
      .option("--trust-proxy <list>", "comma-separated proxies (addresses, CIDR ranges, loopback, linklocal, uniquelocal) whose X-Forwarded-For names the client for rate limits (default: VCM_TRUST_PROXY or none)")
      .option("--workers <n>", `server processes on the port, 1 to ${MAX_SERVE_WORKERS} (default: VCM_SERVE_WORKERS or 1); more than one share the cores, each with its share of the engine's threads`)
      .option("--json", "print one JSON line on stdout once listening")
      .action(async (flags: ServeFlags) => {
        if (isServeWorker()) return serveAsWorker(flags, io);
        await io.run({
          json: flags.json === true,
          body: async () => {
            const workers = serveWorkers(flags.workers);
            if (workers > 1) return (await superviseWorkers<ServeSummary>({ workers, info: (line) => io.info(line) })).summary;
            return serveHere(flags, io);
          },
          text: (result: ServeSummary) =>
            [
              `VCM GraphQL API listening at ${result.graphql}`,
              `GraphiQL (works offline): ${result.url}`,
              ...(result.metrics === null ? [] : [`Prometheus metrics: ${result.metrics}`]),
              ...(result.workers === undefined ? [] : [`${result.workers} server processes share the port (pids ${result.workerPids?.join(", ")}).`]),
              "Paste this query there to start:",
              "",
              result.exampleQuery,
              "",
              "Ctrl-C stops the server.",
            ].join("\n"),
        });
      });
  },
};

interface ServeFlags {
  port?: string;
  db?: string;
  modelsDir?: string;
  host?: string;
  publicRead?: boolean;
  persistedOnly?: boolean;
  metricsPort?: string;
  retrieval?: string;
  trustProxy?: string;
  workers?: string;
  json?: boolean;
}

/** What `vcm serve` prints once listening (one JSON line with --json); workers and their pids under --workers. */
interface ServeSummary {
  readonly url: string;
  readonly graphql: string;
  readonly port: number;
  readonly metrics: string | null;
  readonly exampleQuery: string;
  readonly generatedDemo: boolean;
  readonly trainedModelId: number | null | undefined;
  readonly workers?: number;
  readonly workerPids?: ReadonlyArray<number>;
}

/** Starts a server in this process and stops it on signals; resolves to its summary. */
async function serveHere(flags: ServeFlags, io: CliIo): Promise<ServeSummary> {
  const running = await startServer({
    port: parsePort(flags.port),
    dbPath: flags.db,
    modelsDir: flags.modelsDir,
    host: flags.host,
    metricsPort: parsePort(flags.metricsPort, "--metrics-port"),
    publicRead: flags.publicRead === true,
    persistedOnly: flags.persistedOnly === true,
    retrieval: parseRetrieval(flags.retrieval),
    trustProxy: flags.trustProxy === undefined ? undefined : proxyList(flags.trustProxy),
    onProgress: (event) => io.info(progressLine(event)),
  });
  // Under --workers the first worker says these once for all of them.
  if (isFirstServer()) {
    const { access } = running.server.deps;
    if (!isLoopbackHost(flags.host) && access.openReads) {
      io.info(`warning: --public-read: anyone who can reach ${flags.host} reads every user's reviews and recommendations without a key.`);
    }
    const { persisted } = running.server.deps;
    if (persisted.only) io.info(`--persisted-only: analyst keys and reads without a key run only the ${persisted.size} registered operations of the dashboard; admin keys run any.`);
  }
  stopOnSignals(running);
  return {
    url: running.url,
    graphql: `${running.url}graphql`,
    port: running.port,
    metrics: running.metricsPort === null ? null : `http://127.0.0.1:${running.metricsPort}/metrics`,
    exampleQuery: running.exampleQuery,
    generatedDemo: running.demo.generated,
    trainedModelId: running.demo.trainedModelId,
  };
}

/**
 * A worker of `vcm serve --workers`: serves, and tells the primary that it does (the primary prints the
 * one summary), or why it could not (the primary reports it and stops).
 */
async function serveAsWorker(flags: ServeFlags, io: CliIo): Promise<void> {
  try {
    const summary = await serveHere(flags, io);
    await reportToPrimary({ type: "vcm:serving", summary: { ...summary } });
  } catch (error) {
    const known = error instanceof UserError ? error : faultAsUserError(error);
    if (known === undefined) process.stderr.write(`internal error (a bug; please report it with this trace):\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await reportToPrimary({
      type: "vcm:start-failed",
      code: known?.code ?? ErrorCode.INTERNAL_SERVER_ERROR,
      message: known?.message ?? "A server worker failed to start with an internal error (a bug; please report it with the trace above).",
    });
    process.exit(1);
  }
}

/** Closes the server, the job runner and the database on Ctrl-C or SIGTERM, then exits. */
function stopOnSignals(running: RunningServer): void {
  const stop = (): void => {
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
