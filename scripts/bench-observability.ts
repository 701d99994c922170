/**
 * `npm run bench:observability`: the CPU cost per request of what the server records (issue 26, items
 * 4–6), measured in-process, which a shared host disturbs far less than the latencies of bench:api:
 * the request log's line (to /dev/null), the request counter and latency histogram, a span with traces
 * off (the API's no-op tracer) and on (a recording provider; spans handed to an exporter that drops them).
 */
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import { recordGraphqlRequest } from "../src/observability/metrics.ts";
import { createRequestLog } from "../src/observability/request-log.ts";
import { inSpan, startTracing } from "../src/observability/tracing.ts";

const ROUNDS = 200_000;

/** CPU microseconds per call of `work`, after a warm-up. */
async function cpuMicros(work: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 5_000; i += 1) await work();
  const before = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i += 1) await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / ROUNDS;
}

/** Takes spans and drops them: the cost of recording and batching, without a network. */
const dropping: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => undefined,
};

const log = createRequestLog({ level: "info", file: "/dev/null" });
/** A GraphQL request's spans with 4 catalog statement groups and 1 engine pass inside it, as (a) of bench:api makes. */
const requestSpans = () => inSpan({ name: "graphql", attributes: { "vcm.request_id": "x" } }, async () => {
  for (let i = 0; i < 4; i += 1) await inSpan({ name: "db catalog.usersByIds" }, async () => undefined);
  await inSpan({ name: "engine scores", attributes: { "vcm.engine.kind": "scores" } }, async () => undefined);
});
const figures: Array<[string, number]> = [
  ["an awaited no-op (the loop's own cost)", await cpuMicros(async () => undefined)],
  ["request log line (pino, to /dev/null)", await cpuMicros(() => log.finish({ trail: log.start({ method: "POST", path: "/graphql" }), status: 200, code: "OK", quiet: false }))],
  ["request counter and latency histogram (prom-client)", await cpuMicros(() => recordGraphqlRequest({ operation: "Recs", code: "OK", seconds: 0.004 }))],
  ["a request's 6 spans, traces off", await cpuMicros(requestSpans)],
];
const tracing = startTracing({ exporter: dropping, batch: true });
figures.push(["a request's 6 spans, traces on (batched, dropped)", await cpuMicros(requestSpans)]);
await tracing.stop();
console.log(`Node ${process.version}, ${ROUNDS} rounds each, CPU µs per call:`);
for (const [name, micros] of figures) console.log(`  ${name}: ${micros.toFixed(2)} µs`);
