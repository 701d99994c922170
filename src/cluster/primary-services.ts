/**
 * What the primary of `vcm serve --workers N` keeps for its workers, so that they act as one server:
 * the rate limits' counters (rate-limits.ts) and the answers to /metrics for the whole serve (metrics.ts).
 */
import { countForClusterWorkers } from "../graphql/rate-limits.ts";
import { answerClusterMetrics } from "../observability/metrics.ts";

/** The primary's services for its workers. */
export interface ClusterPrimaryServices {
  /** Stops answering the workers' metrics requests; the rate limits' counters stay until the process exits. */
  close(): void;
}

/** Starts them; call before forking the first worker, so that its first requests find them. */
export function startClusterPrimaryServices(): ClusterPrimaryServices {
  countForClusterWorkers();
  return { close: answerClusterMetrics() };
}
