/**
 * The GraphQL server: Apollo Server 5 over a plain node:http listener (no express), serving the API at
 * /graphql and an offline GraphiQL at /. `createServer(deps)` builds it; `startServer()` wires the
 * database, the demo data and the port; `main()` does that from the environment.
 */
import "reflect-metadata";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, HeaderMap, type GraphQLResponse, type GraphQLRequest } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import type { GraphQLSchema } from "graphql";
import type { DataSource } from "typeorm";
import { loadAppConfig, type AppConfig } from "./config.ts";
import { clientAddressReader } from "./graphql/client-address.ts";
import type { RetrievalMode } from "./engine/retrieval/retrieval-mode.ts";
import { openDatabase, readsCrossASocket } from "./db/data-source.ts";
import { ErrorCode, faultAsUserError, UserError, type ErrorLogger } from "./errors.ts";
import { AccessControl, adminMutationsPlugin, decideAccess, LOOPBACK_ACCESS, type ListenAccess } from "./graphql/auth.ts";
import { createContext, type AuthState, type GraphQLContext, type ServerDeps } from "./graphql/context.ts";
import { createFormatError, httpStatusOf, INTERNAL_ERROR_MESSAGE } from "./graphql/errors.ts";
import { DASHBOARD_PATH, DashboardAssets } from "./graphql/dashboard.ts";
import { IDE_ASSET_PREFIX, IdeAssets } from "./graphql/ide.ts";
import { checkNesting, MAX_QUERY_TOKENS } from "./graphql/limits.ts";
import { queryLimitsPlugin } from "./graphql/query-limits.ts";
import { chargeCost, RateLimitedError, RateLimits } from "./graphql/rate-limits.ts";
import { ApiKeyChecker } from "./services/api-keys.ts";
import { PersistedOperations } from "./graphql/persisted-operations.ts";
import { buildVcmSchema } from "./graphql/schema.ts";
import { serveSubscriptions, type SubscriptionServer } from "./graphql/subscriptions.ts";
import { latestReadyModel } from "./db/model-rows.ts";
import { ensureDemoData, type DemoProgress, type DemoSetup } from "./services/demo.ts";
import { setBusyTimeout } from "./db/busy.ts";
import { watchCommits } from "./db/commit-watch.ts";
import { rateLimitStoreClient } from "./db/rate-limit-store.ts";
import { executeConsistently, operationKindPlugin } from "./graphql/consistent-reads.ts";
import { HeavyQueryGate } from "./graphql/heavy-gate.ts";
import { MISSING_CHECKPOINT_MESSAGE, tidyModelsAtStart } from "./services/housekeeping.ts";
import { CatalogService } from "./services/catalog-service.ts";
import { eachJobKind } from "./services/job-kinds.ts";
import { createPredictionServices } from "./services/prediction-services.ts";
import { answerOpsRequest, isOpsPath, listenForMetrics, type MetricsListener } from "./graphql/ops-routes.ts";
import { RequestObserver } from "./graphql/request-observer.ts";
import { observeAtScrape } from "./observability/metrics.ts";
import { createRequestLog, REQUEST_ID_HEADER, SILENT_REQUEST_LOG, type RequestLog, type RequestTrail } from "./observability/request-log.ts";
import { startTracing, tracedMethods } from "./observability/tracing.ts";
import { scrapeSources } from "./services/metrics-sources.ts";
import { ReadinessCheck } from "./services/readiness.ts";

/** Path of the GraphQL endpoint. */
export const GRAPHQL_PATH = "/graphql";
/** Largest request body accepted, in bytes (a query plus variables; recommendForText text included). */
export const MAX_BODY_BYTES = 1_000_000;

/** The result of one in-process operation, as `execute` returns it. */
export interface ExecutionResult {
  readonly data: Record<string, unknown> | null | undefined;
  readonly errors: ReadonlyArray<{ message: string; path?: ReadonlyArray<string | number>; extensions?: Record<string, unknown> }> | undefined;
  /** HTTP status Apollo would have answered with. */
  readonly status: number | undefined;
}

/** A built server: Apollo, its schema, an HTTP handler and ways to run operations in tests. */
export interface VcmServer {
  readonly apollo: ApolloServer<GraphQLContext>;
  readonly schema: GraphQLSchema;
  readonly deps: ServerDeps;
  /** What GET /ready answers (issue 26, item 3). */
  readonly readiness: ReadinessCheck;
  /** A request's context, as the HTTP handler builds it from the Authorization header. */
  createContext(authorization?: string): GraphQLContext;
  /** Runs one operation in-process through Apollo (plugins, limits, formatError included). */
  execute(request: GraphQLRequest, options?: { authorization?: string }): Promise<ExecutionResult>;
  /** node:http listener: GraphiQL at GET /, its files under /ide/, GraphQL at /graphql. */
  handle(request: http.IncomingMessage, response: http.ServerResponse): void;
  /** Listens on a port (0 = any free one) and resolves to the URL of the IDE. */
  listen(options: { port: number; host?: string }): Promise<{ url: string; port: number }>;
  /** Serves /metrics (open), /ready and /health on 127.0.0.1:`port` (0 = any free one) until stop. */
  listenMetrics(options: { port: number }): Promise<{ port: number }>;
  /** Stops listening and stops Apollo (the data source belongs to the caller). */
  stop(): Promise<void>;
}

/** Builds the long-lived dependencies of the API over an open data source. */
export function createServerDeps(options: {
  dataSource: DataSource;
  config: AppConfig;
  logger?: ErrorLogger;
  /** What requests without a credential may do (decideAccess); as on loopback unless said otherwise. */
  access?: ListenAccess;
  keys?: ApiKeyChecker;
  /** Run only the registered operations for requests that may not run mutations (`--persisted-only`). */
  persistedOnly?: boolean;
}): ServerDeps {
  const keys = options.keys ?? new ApiKeyChecker(options.dataSource);
  return {
    dataSource: options.dataSource,
    // Each catalog call is one database statement group: a span when traces are on.
    catalog: tracedMethods(new CatalogService(options.dataSource), "db catalog"),
    config: options.config,
    logger: options.logger ?? { error: (message, error) => console.error(`[vcm] ${message}:`, error) },
    prediction: createPredictionServices({ dataSource: options.dataSource, config: options.config }),
    access: new AccessControl({ keys, adminToken: options.config.adminToken, access: options.access ?? LOOPBACK_ACCESS }),
    // On PostgreSQL every server counts in the database; SQLite's servers count each in memory.
    rateLimits: new RateLimits({ shared: readsCrossASocket(options.dataSource) ? rateLimitStoreClient(options.dataSource) : undefined }),
    persisted: PersistedOperations.load({ only: options.persistedOnly === true }),
    clientAddress: clientAddressReader(options.config.trustProxy),
  };
}

/** Builds and starts Apollo over the schema; call `listen` to serve HTTP. */
export async function createServer(deps: ServerDeps, options: { requestLog?: RequestLog } = {}): Promise<VcmServer> {
  const formatError = createFormatError(deps.logger);
  const readiness = new ReadinessCheck(deps.dataSource, deps.logger);
  const observer = new RequestObserver(options.requestLog ?? SILENT_REQUEST_LOG);
  const schema = await buildVcmSchema();
  const gate = new HeavyQueryGate();
  // Other processes' commits, so that a query that straddled one runs again (consistent-reads.ts).
  const watch = deps.prediction?.commits ?? watchCommits(deps.dataSource);
  const commits = (): number => watch.version();
  /** HTTP requests being answered: stop() lets them finish (for a while) before the data source goes. */
  const inFlight = new Set<Promise<void>>();
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    parseOptions: { maxTokens: MAX_QUERY_TOKENS },
    // The IDE is served by our own handler from node_modules; Apollo's landing page would load from a CDN.
    // Cache control (on by default) wraps every field resolver to collect cache hints nobody reads here:
    // ≈ 6 ms of a 100-user query.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled(), adminMutationsPlugin(), queryLimitsPlugin<GraphQLContext>({ gate, onCost: chargeCost }), operationKindPlugin(), observer.plugin()],
  });
  await apollo.start();
  // From here on every other server's commit is heard (at once on SQLite; once LISTEN runs on PostgreSQL).
  await watch.ready();
  if (deps.prediction) {
    // After a kill: folders of deleted models go, ready models without files are failed (housekeeping.ts).
    const tidied = await tidyModelsAtStart({ dataSource: deps.dataSource, modelsDir: deps.config.modelsDir });
    for (const id of tidied.failedModels) console.error(`vcm: model ${id} is marked failed: ${MISSING_CHECKPOINT_MESSAGE}`);
    // Jobs of every kind whose servers are gone are failed, queued ones start, and this server's leases are renewed from now on.
    for (const kind of eachJobKind(deps.prediction.jobKinds)) await kind.service.recover();
  }
  const ide = new IdeAssets(GRAPHQL_PATH);
  const dashboard = new DashboardAssets();
  const contextFor = (authorization?: string, auth?: AuthState): GraphQLContext => createContext({ deps, authorization, auth });
  let httpServer: http.Server | null = null;
  let subscriptions: SubscriptionServer | null = null;
  let metricsListener: MetricsListener | null = null;
  const stopScrapes = observeAtScrape(scrapeSources({ dataSource: deps.dataSource, gateWaiting: () => gate.load.waiting, cohorts: deps.prediction?.cohorts }));

  const server: VcmServer = {
    apollo,
    schema,
    deps,
    readiness,
    createContext: contextFor,
    async execute(request, options = {}) {
      const { result: response } = await executeConsistently<GraphQLResponse>({
        commits,
        context: () => contextFor(options.authorization),
        execute: (contextValue) => apollo.executeOperation(request, { contextValue }),
      });
      if (response.body.kind !== "single") throw new Error("incremental delivery is not used by this API");
      const { data, errors } = response.body.singleResult;
      return { data, errors, status: response.http.status };
    },
    handle(request, response) {
      const pathname = new URL(request.url ?? "/", "http://localhost").pathname;
      const observed = { request, response, graphql: pathname === GRAPHQL_PATH, quiet: isOpsPath(pathname) };
      const handled = observer
        .observe(observed, (trail) =>
          handleHttp({ request, response, trail, apollo, ide, dashboard, contextFor, commits, deps, readiness }).catch((error: unknown) => {
            deps.logger.error("HTTP handler failed", error);
            if (!response.headersSent) sendError({ response, trail, code: ErrorCode.INTERNAL_SERVER_ERROR, message: INTERNAL_ERROR_MESSAGE });
            else response.end();
          }),
        )
        .catch((error: unknown) => deps.logger.error("HTTP request observer failed", error))
        .finally(() => inFlight.delete(handled));
      inFlight.add(handled);
    },
    async listen({ port, host = "127.0.0.1" }) {
      if (httpServer !== null) throw new Error("the server is already listening");
      const listening = http.createServer((request, response) => server.handle(request, response));
      httpServer = listening;
      try {
        await new Promise<void>((resolve, reject) => {
          listening.once("error", reject);
          listening.listen(port, host, () => {
            listening.off("error", reject);
            resolve();
          });
        });
      } catch (error) {
        httpServer = null;
        if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
          throw new UserError(ErrorCode.CONFLICT, `Port ${port} on ${host} is in use; pass --port N (or set PORT) to pick another.`);
        }
        throw error;
      }
      subscriptions = serveSubscriptions({
        httpServer: listening,
        path: GRAPHQL_PATH,
        schema,
        contextFor,
        authenticate: (request) => deps.access.authenticate(request),
        rateLimits: deps.rateLimits,
        persisted: deps.persisted,
        clientAddress: deps.clientAddress,
        observer,
        formatError,
        maxPayload: MAX_BODY_BYTES,
      });
      const address = listening.address() as AddressInfo;
      const shownHost = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
      return { url: `http://${shownHost}:${address.port}/`, port: address.port };
    },
    async listenMetrics({ port }) {
      if (metricsListener !== null) throw new Error("the metrics port is already open");
      metricsListener = await listenForMetrics({ port, readiness, onError: (error) => deps.logger.error("metrics scrape failed", error) });
      return { port: metricsListener.port };
    },
    async stop() {
      // From now on /ready answers 503, on the metrics port until the very end.
      readiness.shuttingDown();
      const listening = httpServer;
      httpServer = null;
      await subscriptions?.close();
      subscriptions = null;
      // Heavy queries still waiting for their turn are refused; the ones running finish first.
      gate.close();
      if (listening !== null) {
        const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
        listening.closeIdleConnections();
        await Promise.race([Promise.allSettled([...inFlight]), new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref())]);
        listening.closeAllConnections();
        await closed;
      }
      await apollo.stop();
      if (deps.prediction) await deps.prediction.close();
      else await watch.close();
      stopScrapes();
      await metricsListener?.close();
      metricsListener = null;
      // The backend may still be starting when a server stops at once (tests); its start is not left unawaited.
      await readiness.backendSettled();
    },
  };
  return server;
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  response.end(text);
}

/**
 * Answers a request refused before GraphQL ran, with the code's HTTP status (or `status`, for refusals
 * outside ErrorCode such as BAD_REQUEST), and records the code on the request's trail for its log line and metrics.
 */
function sendError(options: {
  response: http.ServerResponse;
  trail: RequestTrail;
  code: ErrorCode | "BAD_REQUEST";
  message: string;
  status?: number;
  headers?: http.OutgoingHttpHeaders;
}): void {
  const { response, code, message } = options;
  options.trail.code = code;
  // The request's id (request-observer.ts) is in every error's extensions, as Apollo's answers have it.
  const requestId = response.getHeader(REQUEST_ID_HEADER);
  const status = options.status ?? (code === "BAD_REQUEST" ? 400 : httpStatusOf(code));
  sendJson(response, status, { errors: [{ message, extensions: { code, ...(typeof requestId === "string" ? { requestId } : {}) } }] }, options.headers);
}

/** The first error's code of a JSON answer, for an Apollo answer that no plugin hook saw (a malformed request). */
function firstErrorCode(text: string): string | undefined {
  try {
    const code = (JSON.parse(text) as { errors?: Array<{ extensions?: { code?: unknown } }> }).errors?.[0]?.extensions?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Answers 413 for a body that was not read to its end, then closes the connection: the unread rest
 * would otherwise be parsed as the next request on a kept-alive socket (and reset it).
 */
function refuseLargeBody(request: http.IncomingMessage, response: http.ServerResponse, trail: RequestTrail): void {
  // Node may already have detached the socket from the request; the response still holds it until it ends.
  const socket = request.socket ?? response.socket;
  response.once("finish", () => socket?.destroySoon());
  sendError({ response, trail, status: 413, code: "BAD_REQUEST", message: `The request body is over ${MAX_BODY_BYTES} bytes; send a smaller query.`, headers: { connection: "close" } });
}

/** A JSON query-string parameter (a GET request's `extensions`), or undefined when absent or not JSON. */
function jsonParam(value: string | null): unknown {
  if (value === null) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** True for a browser navigation (it accepts HTML), as opposed to a GraphQL client's GET. */
function wantsHtml(request: http.IncomingMessage): boolean {
  return (request.headers.accept ?? "").includes("text/html");
}

/** Reads the body up to MAX_BODY_BYTES; null when it is larger. */
async function readBody(request: http.IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function handleHttp(options: {
  request: http.IncomingMessage;
  response: http.ServerResponse;
  /** The request's log trail: each refusal sent here records its code on it. */
  trail: RequestTrail;
  apollo: ApolloServer<GraphQLContext>;
  ide: IdeAssets;
  dashboard: DashboardAssets;
  contextFor: (authorization?: string, auth?: AuthState) => GraphQLContext;
  commits: (() => number) | undefined;
  deps: ServerDeps;
  readiness: ReadinessCheck;
}): Promise<void> {
  const { request, response, trail, apollo, ide, dashboard, contextFor, commits, deps } = options;
  const url = new URL(request.url ?? "/", "http://localhost");
  const method = (request.method ?? "GET").toUpperCase();

  if (method === "GET" || method === "HEAD") {
    if (isOpsPath(url.pathname)) {
      const isAdmin = async (authorization: string | undefined): Promise<boolean> =>
        (await deps.access.authenticate({ authorization, address: deps.clientAddress(request) }).catch(() => null))?.admin === true;
      return answerOpsRequest({ request, response, trail, pathname: url.pathname, readiness: options.readiness, isAdmin });
    }
    const isDashboard = url.pathname === DASHBOARD_PATH || url.pathname === `${DASHBOARD_PATH}/`;
    const isPage = isDashboard || url.pathname === "/" || (url.pathname === GRAPHQL_PATH && url.search === "" && wantsHtml(request));
    const file = url.pathname.startsWith(IDE_ASSET_PREFIX)
      ? await ide.asset(url.pathname.slice(IDE_ASSET_PREFIX.length))
      : isDashboard
        ? dashboard.page()
        : url.pathname.startsWith(`${DASHBOARD_PATH}/`)
          ? await dashboard.asset(url.pathname.slice(DASHBOARD_PATH.length + 1))
          : isPage
            ? ide.page()
            : undefined;
    if (file === null) return sendError({ response, trail, code: ErrorCode.NOT_FOUND, message: `No IDE or dashboard file at ${url.pathname}.` });
    if (file !== undefined) {
      response.writeHead(200, {
        "content-type": file.type,
        "content-length": Buffer.byteLength(file.body),
        "cache-control": isPage ? "no-store" : "public, max-age=3600",
      });
      response.end(method === "HEAD" ? undefined : file.body);
      return;
    }
  }
  if (url.pathname !== GRAPHQL_PATH) {
    return sendError({ response, trail, code: ErrorCode.NOT_FOUND, message: `Nothing at ${url.pathname}: GraphQL is at ${GRAPHQL_PATH}, the IDE at /, the dashboard at ${DASHBOARD_PATH}.` });
  }

  // Who is asking, and whether they may ask again this minute, before the body is even read.
  let auth: AuthState;
  try {
    auth = await deps.access.authenticate({ authorization: request.headers.authorization, address: deps.clientAddress(request) });
    await deps.rateLimits.takeRequest(auth);
  } catch (error) {
    const refused = error instanceof UserError ? error : faultAsUserError(error);
    if (refused === undefined) throw error;
    const headers = refused instanceof RateLimitedError ? { "retry-after": String(refused.retryAfterSeconds) } : {};
    return sendError({ response, trail, code: refused.code, message: refused.message, headers });
  }
  const text = method === "POST" ? await readBody(request) : "";
  if (text === null) return refuseLargeBody(request, response, trail);
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
  }
  let body: unknown = undefined;
  if (method === "POST") {
    if ((headers.get("content-type") ?? "").includes("application/json")) {
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        return sendError({ response, trail, code: "BAD_REQUEST", message: "The request body is not valid JSON." });
      }
    } else {
      body = text;
    }
  }
  const sent: { query?: unknown; extensions?: unknown } =
    method === "POST" ? ((body ?? {}) as object) : { query: url.searchParams.get("query") ?? undefined, extensions: jsonParam(url.searchParams.get("extensions")) };
  // A registered operation may be sent by its id alone (extensions.persistedQuery), as Apollo's clients do.
  const registered = deps.persisted.registeredBody(sent);
  if (registered !== undefined && method === "POST") body = { ...sent, query: registered };
  else if (registered !== undefined) url.searchParams.set("query", registered);
  const query = registered ?? sent.query;
  try {
    deps.persisted.check({ admin: auth.admin, query, extensions: sent.extensions });
  } catch (error) {
    if (error instanceof UserError) return sendError({ response, trail, code: error.code, message: error.message });
    throw error;
  }
  if (typeof query === "string") {
    try {
      checkNesting(query);
    } catch (error) {
      if (error instanceof UserError) return sendError({ response, trail, status: 400, code: error.code, message: error.message });
      throw error;
    }
  }
  const { result } = await executeConsistently({
    commits,
    context: () => contextFor(request.headers.authorization, auth),
    execute: (context) => apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest: { method, headers, search: url.search, body }, context: async () => context }),
  });
  for (const [key, value] of result.headers) response.setHeader(key, value);
  response.statusCode = result.status ?? 200;
  if (trail.code === undefined && response.statusCode >= 400 && result.body.kind === "complete") trail.code = firstErrorCode(result.body.string);
  if (result.body.kind === "complete") {
    response.end(result.body.string);
    return;
  }
  for await (const chunk of result.body.asyncIterator) response.write(chunk);
  response.end();
}

/** A server started by startServer, with what it set up. */
export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** The loopback port of /metrics, or null without `--metrics-port`. */
  readonly metricsPort: number | null;
  readonly server: VcmServer;
  readonly demo: DemoSetup;
  /** A query to paste into the IDE, over what the database holds. */
  readonly exampleQuery: string;
  /** Stops HTTP, the training-job runner (server.stop) and the database. */
  close(): Promise<void>;
}

/** One example query over the dataset (and model) the database holds. */
export function exampleQueryFor(options: { datasetName: string | null; modelId: number | null }): string {
  if (options.datasetName === null) return "{ datasets { name } }";
  const recommendations =
    options.modelId === null ? "" : ` recommendations(modelId: "${options.modelId}", k: 5) { rank score item { externalId } }`;
  return (
    `{ dataset(name: ${JSON.stringify(options.datasetName)}) { statistics { users items interactions sparsity } ` +
    `users(first: 3, orderBy: ACTIVITY, direction: DESC) { edges { node { externalId trainClickCount${recommendations} } } } } }`
  );
}

/** How long stop() lets requests being answered finish before it closes their connections. */
const STOP_GRACE_MS = 10_000;

/** How long one statement of a serving process waits for another process's write lock, blocking everything. */
const SERVER_BUSY_TIMEOUT_MS = 20;

/**
 * Opens the database (running migrations), sets up the demo data on an empty database, wires the
 * prediction services and listens. Settings not given come from the environment (src/config.ts).
 */
export async function startServer(options: {
  port?: number;
  dbPath?: string;
  modelsDir?: string;
  /** Interface to listen on; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** Also serve /metrics without a credential on 127.0.0.1:metricsPort (`--metrics-port`). */
  metricsPort?: number;
  /** Serve reads without a key on a non-loopback host (else such a host needs an API key to exist). */
  publicRead?: boolean;
  /** Run only the dashboard's registered operations for analyst keys and reads without a key (`--persisted-only`). */
  persistedOnly?: boolean;
  onProgress?: (event: DemoProgress) => void;
  logger?: ErrorLogger;
  /** How users' items are ranked (`--retrieval`; else VCM_RETRIEVAL, else auto). */
  retrieval?: RetrievalMode;
  /** Proxies whose X-Forwarded-For names the client (`--trust-proxy`; else VCM_TRUST_PROXY, else none). */
  trustProxy?: ReadonlyArray<string>;
}): Promise<RunningServer> {
  const config = loadAppConfig({ port: options.port, dbPath: options.dbPath, modelsDir: options.modelsDir, retrieval: options.retrieval, trustProxy: options.trustProxy });
  // Before anything runs, so that every span has the provider (OTEL_* variables; off by default).
  const tracing = config.otlpTraces ? startTracing({ sampleRatio: config.traceSampleRatio }) : null;
  const dataSource = await openDatabase(config.dbPath).catch(async (error: unknown) => {
    await tracing?.stop();
    throw error;
  });
  let server: VcmServer | null = null;
  try {
    const keys = new ApiKeyChecker(dataSource);
    const access = await decideAccess({ host: options.host, publicRead: options.publicRead === true, keys });
    const demo = await ensureDemoData({ dataSource, modelsDir: config.modelsDir, onProgress: options.onProgress });
    // From here on no statement blocks the event loop behind another process's lock: writes retry asynchronously.
    setBusyTimeout(dataSource, SERVER_BUSY_TIMEOUT_MS);
    server = await createServer(createServerDeps({ dataSource, config, logger: options.logger, access, keys, persistedOnly: options.persistedOnly }), { requestLog: createRequestLog({ level: config.logLevel }) });
    const { url, port } = await server.listen({ port: config.port, host: options.host });
    const metricsPort = options.metricsPort === undefined ? null : (await server.listenMetrics({ port: options.metricsPort })).port;
    const readyModel = demo.datasetName === null ? null : await latestReadyModel(dataSource, demo.datasetName);
    const started = server;
    return {
      url,
      port,
      metricsPort,
      server: started,
      demo,
      exampleQuery: exampleQueryFor({ datasetName: demo.datasetName, modelId: readyModel?.id ?? null }),
      async close() {
        await started.stop();
        await dataSource.destroy();
        await tracing?.stop();
      },
    };
  } catch (error) {
    await server?.stop();
    await dataSource.destroy();
    await tracing?.stop();
    throw error;
  }
}

/** Starts the server from the environment and stops it cleanly on SIGINT / SIGTERM. */
export async function main(): Promise<void> {
  const running = await startServer({});
  process.stdout.write(`VCM GraphQL API at ${running.url}graphql — GraphiQL at ${running.url}\n`);
  const stop = (): void => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
