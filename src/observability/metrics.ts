/**
 * The process's Prometheus metrics (issue 26, item 4): the one module that imports prom-client. Services
 * and the server call the small functions below; values that live elsewhere (the large-query gate's
 * queue, jobs by state, models' test figures) are read only when /metrics is scraped, through the
 * sources a server registers with `observeAtScrape`. In a worker of `vcm serve --workers N`, /metrics
 * answers for the whole serve: the worker asks its primary (cluster-metrics.ts), which gathers every
 * worker's registry through prom-client's cluster registry and aggregates each metric by its
 * `aggregator`: counts of each process are summed, values read from the database are taken once.
 */
import cluster from "node:cluster";
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { answerWorkersMetrics, askPrimaryForMetrics } from "./cluster-metrics.ts";

/** The text format's content type, for the /metrics answer. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Label a request gets when it names no operation. */
export const ANONYMOUS_OPERATION = "anonymous";

/** Outcome label of a request answered without errors. */
export const OUTCOME_OK = "OK";

/** Latency buckets in seconds: from a cached lookup (ms) to a large cold query (tens of seconds). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One ready model's stored test figures (mean capacity only where an evaluation is already held). */
export interface ModelFigures {
  readonly model: number;
  readonly variant: string;
  readonly dataset: string;
  readonly ndcg10: number | undefined;
  readonly recall20: number | undefined;
  readonly meanCapacity: number | undefined;
}

/** What one server reports at scrape time. */
export interface ScrapeSources {
  /** Heavy queries waiting for their turn now. */
  gateWaiting(): number;
  /** Jobs on the database by kind and state. */
  jobsByState(): Promise<ReadonlyArray<{ kind: string; state: string; count: number }>>;
  /** Every ready model's stored figures. */
  readyModels(): Promise<ReadonlyArray<ModelFigures>>;
}

/**
 * The registry and its metrics. One per process (the process metrics are the process's); the servers
 * of one process (tests start several) each add their scrape sources and take them away at stop.
 */
class ProcessMetrics {
  readonly registry = new Registry();
  readonly sources = new Set<ScrapeSources>();

  readonly requests = new Counter({
    name: "vcm_graphql_requests_total",
    help: "GraphQL requests answered, by operation name and outcome code (OK or the first error's code).",
    labelNames: ["operation", "code"] as const,
    registers: [this.registry],
  });

  readonly latency = new Histogram({
    name: "vcm_graphql_request_duration_seconds",
    help: "Seconds from a GraphQL request's arrival to its answer, by operation name.",
    labelNames: ["operation"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly enginePasses = new Histogram({
    name: "vcm_engine_pass_seconds",
    help: "Engine passes (one shared call of the engine for every request that joined it), by kind, and their seconds.",
    labelNames: ["kind"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly cacheHits = new Counter({
    name: "vcm_answer_cache_hits_total",
    help: "Answers served from a model's recent answers instead of an engine pass, by kind.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  readonly gateRefusals = new Counter({
    name: "vcm_heavy_query_refusals_total",
    help: "Large queries refused with SERVER_BUSY by the large-query gate (queue full, waited too long, or stopping).",
    registers: [this.registry],
  });

  readonly subscriptions = new Counter({
    name: "vcm_graphql_subscriptions_total",
    help: "GraphQL subscriptions asked for over WebSocket, by operation name and outcome code (OK once started, or the refusal's code).",
    labelNames: ["operation", "code"] as const,
    registers: [this.registry],
  });

  readonly activeSubscriptions = new Gauge({
    name: "vcm_graphql_active_subscriptions",
    help: "GraphQL subscriptions running now over WebSocket, by operation name.",
    labelNames: ["operation"] as const,
    registers: [this.registry],
    aggregator: "sum",
  });

  readonly rows = new Counter({
    name: "vcm_rows_written_total",
    help: "Rows appended or ingested by this process, by operation (ingest, append) and table (clicks, reviews).",
    labelNames: ["operation", "table"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    if (cluster.isWorker) {
      AggregatorRegistry.setRegistries([this.registry]);
      // Its constructor makes this worker answer the primary's requests for its registry's metrics.
      new AggregatorRegistry();
    }
    const sources = this.sources;
    new Gauge({
      name: "vcm_heavy_query_queue_depth",
      help: "Large queries waiting for their turn at the large-query gate.",
      registers: [this.registry],
      // Each process has its own gate.
      aggregator: "sum",
      collect() {
        this.set([...sources].reduce((sum, source) => sum + source.gateWaiting(), 0));
      },
    });
    new Gauge({
      name: "vcm_jobs",
      help: "Jobs on the database, by kind (training, experiment) and state.",
      labelNames: ["kind", "state"] as const,
      registers: [this.registry],
      // The workers of a cluster read the same database too: the first to answer says for all.
      aggregator: "first",
      async collect() {
        this.reset();
        const first = [...sources][0];
        // Every server of the process reads the same database: one of them says.
        if (first === undefined) return;
        for (const { kind, state, count } of await first.jobsByState()) this.set({ kind, state }, count);
      },
    });
    const figures = (name: string, help: string, pick: (model: ModelFigures) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ["model", "variant", "dataset"] as const,
        registers: [this.registry],
        aggregator: "first",
        async collect() {
          this.reset();
          const first = [...sources][0];
          if (first === undefined) return;
          for (const model of await first.readyModels()) {
            const value = pick(model);
            if (value !== undefined && Number.isFinite(value)) this.set({ model: String(model.model), variant: model.variant, dataset: model.dataset }, value);
          }
        },
      });
    figures("vcm_model_test_ndcg_at_10", "A ready model's NDCG@10 on its dataset's test split, as stored at training.", (m) => m.ndcg10);
    figures("vcm_model_test_recall_at_20", "A ready model's Recall@20 on its dataset's test split, as stored at training.", (m) => m.recall20);
    figures(
      "vcm_model_mean_capacity",
      "A ready model's mean capacity over its test users, once a cohort analysis has evaluated it on this server (never computed for a scrape).",
      (m) => m.meanCapacity,
    );
  }
}

const METRICS = new ProcessMetrics();

/** Counts one answered GraphQL request and its seconds. */
export function recordGraphqlRequest(options: { operation: string | undefined; code: string; seconds: number }): void {
  const operation = options.operation ?? ANONYMOUS_OPERATION;
  METRICS.requests.inc({ operation, code: options.code });
  METRICS.latency.observe({ operation }, options.seconds);
}

/** Counts a subscription asked for, by its outcome; one that started (`OK`) is active until `recordSubscriptionEnd`. */
export function recordSubscription(options: { operation: string | undefined; code: string }): void {
  const operation = options.operation ?? ANONYMOUS_OPERATION;
  METRICS.subscriptions.inc({ operation, code: options.code });
  if (options.code === OUTCOME_OK) METRICS.activeSubscriptions.inc({ operation });
}

/** A subscription that started has ended (completed, stopped by its client, or its socket closed). */
export function recordSubscriptionEnd(operation: string | undefined): void {
  METRICS.activeSubscriptions.dec({ operation: operation ?? ANONYMOUS_OPERATION });
}

/** Counts one engine pass of `kind` and its seconds. */
export function recordEnginePass(kind: string, seconds: number): void {
  METRICS.enginePasses.observe({ kind }, seconds);
}

/** Counts answers of `kind` served from a model's recent answers. */
export function recordAnswerCacheHits(kind: string, hits: number): void {
  if (hits > 0) METRICS.cacheHits.inc({ kind }, hits);
}

/** Counts one large query refused by the gate. */
export function recordGateRefusal(): void {
  METRICS.gateRefusals.inc();
}

/** Counts rows written by an ingest or an append. */
export function recordRowsWritten(options: { operation: "ingest" | "append"; table: "clicks" | "reviews"; rows: number }): void {
  if (options.rows > 0) METRICS.rows.inc({ operation: options.operation, table: options.table }, options.rows);
}

/** Adds a server's scrape-time sources; the function returned takes them away (at the server's stop). */
export function observeAtScrape(sources: ScrapeSources): () => void {
  METRICS.sources.add(sources);
  return () => void METRICS.sources.delete(sources);
}

/** The metrics in Prometheus's text format, scrape-time values read now; in a cluster worker, the whole cluster's (SERVER_BUSY when they cannot be gathered). */
export function metricsText(): Promise<string> {
  return cluster.isWorker ? askPrimaryForMetrics() : METRICS.registry.metrics();
}

/**
 * In the primary of `vcm serve --workers N`, before forking: answers the workers' requests for the
 * cluster's metrics. The function returned stops answering.
 */
export function answerClusterMetrics(): () => void {
  const workers = new AggregatorRegistry();
  return answerWorkersMetrics(() => workers.clusterMetrics());
}
