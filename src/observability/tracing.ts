/**
 * OpenTelemetry traces (issue 26, item 5): spans for each GraphQL request, engine pass, database
 * statement group and job. The code below always asks the OpenTelemetry API for spans; until
 * `startTracing` registers a provider (the OTEL_* variables ask for one, see AppConfig.otlpTraces), the
 * API's tracer is a no-op whose spans record nothing, so traces off cost next to nothing.
 */
import { context, SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace";

/** The instrumentation scope of every span, and the service name unless OTEL_SERVICE_NAME gives one. */
const SERVICE_NAME = "vcm-analytics";

/** Traces being recorded; `stop` flushes what is left and returns the process to the no-op tracer. */
export interface Tracing {
  stop(): Promise<void>;
}

/**
 * Registers a tracer provider for the whole process: over OTLP (the exporter reads OTEL_EXPORTER_OTLP_*)
 * in batches, or, for tests and benchmarks, to `exporter`: each span as it ends, or in batches (`batch`).
 */
export function startTracing(options: { exporter?: SpanExporter; batch?: boolean; sampleRatio?: number } = {}): Tracing {
  const exporter = options.exporter ?? new OTLPTraceExporter();
  const processor = options.exporter === undefined || options.batch === true ? new BatchSpanProcessor({ exporter }) : new SimpleSpanProcessor({ exporter });
  const resource = defaultResource()
    .merge(resourceFromAttributes({ "service.name": SERVICE_NAME }))
    .merge(detectResources({ detectors: [envDetector] }));
  // Every span here starts a trace or continues this process's own, so the ratio applies to requests.
  const sampler = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) });
  const provider = new TracerProvider({ resource, sampler, spanProcessors: [processor] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  return {
    async stop() {
      await provider.shutdown();
      trace.disable();
      context.disable();
    },
  };
}

/**
 * Runs `work` inside a span named `name` (the current span's child), ended when the work settles; a
 * failure is recorded on it (its message only) and thrown on.
 */
export async function inSpan<T>(options: { name: string; attributes?: Attributes }, work: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer(SERVICE_NAME).startActiveSpan(options.name, { attributes: options.attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** A span started now and ended by the caller (work that outlives a call, such as a job's worker process). */
export function startSpan(options: { name: string; attributes?: Attributes }): Span {
  return trace.getTracer(SERVICE_NAME).startSpan(options.name, { attributes: options.attributes });
}

/** The span of the work running now (a no-op span when there is none): the GraphQL plugin names it after the operation. */
export function activeSpan(): Span | undefined {
  return trace.getActiveSpan();
}

/**
 * `target` with each method call in a span `prefix.method` (its methods all return promises): one span
 * per database statement group of the catalog, whichever loader or resolver asked.
 */
export function tracedMethods<T extends object>(target: T, prefix: string): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => inSpan({ name: `${prefix}.${property}` }, async () => (value as (...a: unknown[]) => Promise<unknown>).apply(object, args));
    },
  });
}
