/**
 * The IPC of /metrics under `vcm serve --workers N`: the worker a scrape reaches asks its cluster's
 * primary for every worker's metrics, and the primary answers with what prom-client's cluster registry
 * gathered from all the workers (metrics.ts has both ends of that). Messages carry a request id of the
 * asking worker, so concurrent scrapes on several workers each get their own answer.
 */
import { randomUUID } from "node:crypto";
import cluster, { type Worker } from "node:cluster";
import { ErrorCode, UserError } from "../errors.ts";

/**
 * How long a worker waits for the primary's answer: longer than prom-client's own 5 s wait for the
 * workers in the primary, so that its sentence for a worker that did not answer normally comes first.
 */
const PRIMARY_METRICS_TIMEOUT_MS = 7_000;

/** A worker asks the primary for the whole cluster's metrics. */
interface MetricsRequest {
  readonly type: "vcm:metrics-request";
  readonly id: string;
}

/** The primary's answer: the text of every worker's metrics aggregated, or why it could not gather them. */
type MetricsReply = { readonly type: "vcm:metrics-reply"; readonly id: string } & ({ readonly text: string } | { readonly error: string });

function isMetricsRequest(message: unknown): message is MetricsRequest {
  return (message as Partial<MetricsRequest> | null)?.type === "vcm:metrics-request" && typeof (message as MetricsRequest).id === "string";
}

function isMetricsReply(message: unknown): message is MetricsReply {
  return (message as Partial<MetricsReply> | null)?.type === "vcm:metrics-reply" && typeof (message as MetricsReply).id === "string";
}

/** A scrape that has no whole-cluster answer fails rather than show one worker's counters, which Prometheus would read as a reset. */
function notGathered(reason: string): UserError {
  return new UserError(
    ErrorCode.SERVER_BUSY,
    `The metrics of this server's workers could not be gathered (${reason}); a worker may be starting or busy, scrape again shortly.`,
  );
}

/** In a cluster worker: the whole cluster's metrics text, from the primary; SERVER_BUSY when it does not come. */
export function askPrimaryForMetrics(): Promise<string> {
  const request: MetricsRequest = { type: "vcm:metrics-request", id: randomUUID() };
  return new Promise((resolve, reject) => {
    const finish = (settle: () => void): void => {
      clearTimeout(timer);
      process.off("message", onMessage);
      settle();
    };
    const onMessage = (message: unknown): void => {
      if (!isMetricsReply(message) || message.id !== request.id) return;
      finish(() => ("text" in message ? resolve(message.text) : reject(notGathered(`the primary said "${message.error}"`))));
    };
    const timer = setTimeout(
      () => finish(() => reject(notGathered(`the cluster's primary did not answer within ${PRIMARY_METRICS_TIMEOUT_MS / 1000} s`))),
      PRIMARY_METRICS_TIMEOUT_MS,
    );
    process.on("message", onMessage);
    if (process.send === undefined) {
      finish(() => reject(notGathered("this process has no channel to a cluster's primary")));
      return;
    }
    process.send(request, undefined, undefined, (error: Error | null) => {
      if (error !== null) finish(() => reject(notGathered(`the request could not be sent: ${error.message}`)));
    });
  });
}

/** Sends a reply to the worker that asked, unless it has gone meanwhile (its scrape went with it). */
function reply(worker: Worker, message: MetricsReply): void {
  if (worker.isConnected()) worker.send(message, undefined, () => undefined);
}

/**
 * In a cluster's primary: answers the workers' requests with `gather()` (every worker's metrics,
 * aggregated). The function returned stops answering.
 */
export function answerWorkersMetrics(gather: () => Promise<string>): () => void {
  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isMetricsRequest(message)) return;
    const { id } = message;
    gather().then(
      (text) => reply(worker, { type: "vcm:metrics-reply", id, text }),
      (error: unknown) => reply(worker, { type: "vcm:metrics-reply", id, error: error instanceof Error ? error.message : String(error) }),
    );
  };
  cluster.on("message", onMessage);
  return () => void cluster.off("message", onMessage);
}
