import path from "node:path";
import proxyaddr from "proxy-addr";
import { ErrorCode, UserError } from "./errors.ts";
import { DEFAULT_RETRIEVAL_MODE, RETRIEVAL_MODES, type RetrievalMode } from "./engine/retrieval/retrieval-mode.ts";

/** Backends the engine can be forced onto with VCM_BACKEND. */
export type BackendChoice = "webgpu" | "wasm" | "cpu" | "tensorflow";

/** The environment variables that decide where Vulkan looks for its loader and drivers (AppConfig.gpuEnvironment). */
export const GPU_ENVIRONMENT_VARIABLES = [
  "LD_LIBRARY_PATH",
  "VK_DRIVER_FILES",
  "VK_ICD_FILENAMES",
  "VK_ADD_DRIVER_FILES",
  "XDG_CONFIG_HOME",
  "XDG_CONFIG_DIRS",
  "XDG_DATA_HOME",
  "XDG_DATA_DIRS",
  "HOME",
  "NVIDIA_VISIBLE_DEVICES",
  "NVIDIA_DRIVER_CAPABILITIES",
] as const;

export type GpuEnvironment = Readonly<Partial<Record<(typeof GPU_ENVIRONMENT_VARIABLES)[number], string>>>;

/** Application settings: the only place that reads process.env. */
export interface AppConfig {
  /**
   * The database (VCM_DB; `--db` on the CLI overrides it): a SQLite file, resolved to an absolute path,
   * or a postgres:// (postgresql://) URL of a PostgreSQL 15+ database, kept as given.
   */
  readonly dbPath: string;
  /** Folder of saved model checkpoints (VCM_MODELS_DIR). */
  readonly modelsDir: string;
  /** Folder of the experiments a server runs for startExperiment (VCM_EXPERIMENTS_DIR), one sub-folder each. */
  readonly experimentsDir: string;
  /** HTTP port of the GraphQL server (PORT; `--port` overrides it). */
  readonly port: number;
  /** Forced engine backend (VCM_BACKEND), or undefined to pick the fastest that loads. */
  readonly backend: BackendChoice | undefined;
  /** Bearer token required by mutations when set (VCM_ADMIN_TOKEN). */
  readonly adminToken: string | undefined;
  /** Use the native OpenBLAS kernels on wasm when they are built (VCM_NATIVE_MATMUL=off disables them). */
  readonly nativeMatMul: boolean;
  /**
   * Score the explanations' exact deletions on AMX bfloat16 tiles where the CPU has them and the output
   * layer is large (VCM_BF16_DELETIONS=off keeps them float32; engine/runtime/bf16-logits.ts).
   */
  readonly bf16Deletions: boolean;
  /**
   * Threads of the WebAssembly backend's matMul and other XNNPACK kernels when the native kernels are
   * not in use (VCM_WASM_THREADS, 1 to 8; 1 is tfjs's single-threaded build), or undefined for one per
   * core, at most 8.
   */
  readonly wasmThreads: number | undefined;
  /**
   * Dawn flags for the webgpu backend (VCM_WEBGPU_FLAGS, comma-separated, e.g. `adapter=NVIDIA,backend=vulkan`);
   * empty lets Dawn list every adapter and tfjs take the high-performance one.
   */
  readonly webgpuFlags: ReadonlyArray<string>;
  /**
   * The variables that decide where Vulkan finds its loader and drivers (LD_LIBRARY_PATH, VK_DRIVER_FILES,
   * XDG_DATA_DIRS, NVIDIA_DRIVER_CAPABILITIES, …), as set: read only to say why a GPU went unused.
   */
  readonly gpuEnvironment: GpuEnvironment;
  /**
   * The folder that stands for `/` when the engine looks for a GPU's device node and Vulkan's files
   * (VCM_GPU_PROBE_ROOT; default `/`): tests lay out a GPU machine's files there.
   */
  readonly gpuProbeRoot: string;
  /**
   * Seconds a running training job's lease lasts without a heartbeat from the server that runs it
   * (VCM_JOB_LEASE_SECONDS); after that, any server on the database marks the job failed, once.
   */
  readonly jobLeaseSeconds: number;
  /**
   * Least level of the server's request log on stdout, one JSON line per request (VCM_LOG_LEVEL: trace,
   * debug, info, warn, error, fatal or silent); probes of /health, /ready and /metrics log at debug.
   */
  readonly logLevel: LogLevel;
  /**
   * Traces are exported over OTLP when the standard OpenTelemetry variables ask for it: OTEL_TRACES_EXPORTER=otlp,
   * or an OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT without OTEL_TRACES_EXPORTER=none;
   * OTEL_SDK_DISABLED=true turns them off. The exporter reads its other OTEL_EXPORTER_OTLP_* variables itself.
   */
  readonly otlpTraces: boolean;
  /**
   * Share of requests traced when traces are on, 0 to 1 (OTEL_TRACES_SAMPLER `traceidratio` or
   * `parentbased_traceidratio` with OTEL_TRACES_SAMPLER_ARG; `always_off` is 0; default 1, every request).
   */
  readonly traceSampleRatio: number;
  /**
   * Memory the engine may plan to hold, in MiB (VCM_MAX_MEMORY_MB, a whole number ≥ 64): training,
   * loading, evaluating and exporting are refused past it (engine/memory.ts); undefined for this
   * machine's available memory.
   */
  readonly maxMemoryMb: number | undefined;
  /**
   * How a server ranks a user's items (VCM_RETRIEVAL; `vcm serve --retrieval` overrides it): `exact` scores
   * every item, `approximate` searches an index of the model's output layer and re-ranks its candidates
   * exactly, `auto` (default) is approximate from APPROXIMATE_RETRIEVAL_MIN_ITEMS items (engine/retrieval).
   */
  readonly retrieval: RetrievalMode;
  /**
   * Proxies whose X-Forwarded-For names the client (VCM_TRUST_PROXY; `vcm serve --trust-proxy`): a
   * comma-separated list of addresses, CIDR ranges or the names loopback, linklocal and uniquelocal.
   * Empty (the default): the socket's peer is the client, and the header is ignored.
   */
  readonly trustProxy: ReadonlyArray<string>;
  /**
   * Shards a server's cohort evaluation (the `cohorts` query, `aliasReport`) is split into, which every
   * server on the database computes as jobs (VCM_COHORT_SHARDS, a whole number from 1, the default:
   * in process, to MAX_SHARDS; services/sharded-cohorts.ts).
   */
  readonly cohortShards: number;
}

/** Levels of the request log, least to most severe, and silent. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_APP_CONFIG: AppConfig = Object.freeze({
  dbPath: path.resolve("data", "vcm.sqlite"),
  modelsDir: path.resolve("data", "models"),
  experimentsDir: path.resolve("data", "experiments"),
  port: 4000,
  backend: undefined,
  adminToken: undefined,
  nativeMatMul: true,
  bf16Deletions: true,
  wasmThreads: undefined,
  webgpuFlags: Object.freeze([]),
  gpuEnvironment: Object.freeze({}),
  gpuProbeRoot: "/",
  jobLeaseSeconds: 30,
  logLevel: "info",
  otlpTraces: false,
  traceSampleRatio: 1,
  maxMemoryMb: undefined,
  retrieval: DEFAULT_RETRIEVAL_MODE,
  trustProxy: Object.freeze([]),
  cohortShards: 1,
});

const BACKENDS: ReadonlyArray<BackendChoice> = ["webgpu", "wasm", "cpu", "tensorflow"];

/** A VCM_TRUST_PROXY / `--trust-proxy` value as its entries (checked by loadAppConfig). */
export function proxyList(text: string): string[] {
  return text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
}

/** Reads the environment (and explicit overrides) into a frozen AppConfig, rejecting bad values with BAD_USER_INPUT and a sentence. */
export function loadAppConfig(
  overrides: Partial<AppConfig> = {},
  env: NodeJS.ProcessEnv = process.env,
): AppConfig {
  const port = overrides.port ?? (env.PORT ? Number(env.PORT) : DEFAULT_APP_CONFIG.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `PORT must be an integer from 0 to 65535, got "${env.PORT}"`);
  }
  const backendEnv = env.VCM_BACKEND?.trim() || undefined;
  if (backendEnv !== undefined && !BACKENDS.includes(backendEnv as BackendChoice)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_BACKEND must be one of ${BACKENDS.join(", ")}, got "${backendEnv}"`);
  }
  const leaseEnv = env.VCM_JOB_LEASE_SECONDS?.trim() || undefined;
  const jobLeaseSeconds = overrides.jobLeaseSeconds ?? (leaseEnv === undefined ? DEFAULT_APP_CONFIG.jobLeaseSeconds : Number(leaseEnv));
  if (!Number.isFinite(jobLeaseSeconds) || jobLeaseSeconds < 1 || jobLeaseSeconds > 3600) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_JOB_LEASE_SECONDS must be a number of seconds from 1 to 3600, got "${leaseEnv}"`);
  }
  const threadsEnv = env.VCM_WASM_THREADS?.trim() || undefined;
  const wasmThreads = overrides.wasmThreads ?? (threadsEnv === undefined ? undefined : Number(threadsEnv));
  if (wasmThreads !== undefined && (!Number.isInteger(wasmThreads) || wasmThreads < 1 || wasmThreads > 8)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_WASM_THREADS must be a whole number of threads from 1 to 8, got "${threadsEnv}"`);
  }
  const levelEnv = env.VCM_LOG_LEVEL?.trim().toLowerCase() || undefined;
  const logLevel = overrides.logLevel ?? (levelEnv as LogLevel | undefined) ?? DEFAULT_APP_CONFIG.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${levelEnv}"`);
  const memoryEnv = env.VCM_MAX_MEMORY_MB?.trim() || undefined;
  const maxMemoryMb = overrides.maxMemoryMb ?? (memoryEnv === undefined ? undefined : Number(memoryEnv));
  if (maxMemoryMb !== undefined && (!Number.isInteger(maxMemoryMb) || maxMemoryMb < 64)) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_MAX_MEMORY_MB must be a whole number of MiB, at least 64, got "${memoryEnv}"`);
  }
  const retrievalEnv = env.VCM_RETRIEVAL?.trim().toLowerCase() || undefined;
  const retrieval = overrides.retrieval ?? (retrievalEnv as RetrievalMode | undefined) ?? DEFAULT_APP_CONFIG.retrieval;
  if (!RETRIEVAL_MODES.includes(retrieval)) throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_RETRIEVAL must be one of ${RETRIEVAL_MODES.join(", ")}, got "${retrievalEnv}"`);
  const trustProxy = Object.freeze([...(overrides.trustProxy ?? proxyList(env.VCM_TRUST_PROXY ?? ""))]);
  try {
    proxyaddr.compile([...trustProxy]);
  } catch {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_TRUST_PROXY (or --trust-proxy) must list addresses, CIDR ranges or loopback, linklocal, uniquelocal, separated by commas, got "${trustProxy.join(",")}"`);
  }
  const shardsEnv = env.VCM_COHORT_SHARDS?.trim() || undefined;
  const cohortShards = overrides.cohortShards ?? (shardsEnv === undefined ? DEFAULT_APP_CONFIG.cohortShards : Number(shardsEnv));
  if (!Number.isInteger(cohortShards) || cohortShards < 1) throw new UserError(ErrorCode.BAD_USER_INPUT, `VCM_COHORT_SHARDS must be a whole number of shards, at least 1, got "${shardsEnv}"`);
  return Object.freeze({
    retrieval,
    trustProxy,
    cohortShards,
    jobLeaseSeconds,
    maxMemoryMb,
    logLevel,
    otlpTraces: overrides.otlpTraces ?? otlpTracesWanted(env),
    traceSampleRatio: overrides.traceSampleRatio ?? traceSampleRatio(env),
    wasmThreads,
    dbPath: databaseTarget(overrides.dbPath ?? env.VCM_DB ?? DEFAULT_APP_CONFIG.dbPath),
    modelsDir: path.resolve(overrides.modelsDir ?? env.VCM_MODELS_DIR ?? DEFAULT_APP_CONFIG.modelsDir),
    experimentsDir: path.resolve(overrides.experimentsDir ?? env.VCM_EXPERIMENTS_DIR ?? DEFAULT_APP_CONFIG.experimentsDir),
    port,
    backend: overrides.backend ?? (backendEnv as BackendChoice | undefined),
    adminToken: overrides.adminToken ?? (env.VCM_ADMIN_TOKEN || undefined),
    nativeMatMul: overrides.nativeMatMul ?? !switchedOff(env.VCM_NATIVE_MATMUL),
    bf16Deletions: overrides.bf16Deletions ?? !switchedOff(env.VCM_BF16_DELETIONS),
    webgpuFlags: Object.freeze([...(overrides.webgpuFlags ?? (env.VCM_WEBGPU_FLAGS ?? "").split(",").map((f) => f.trim()).filter((f) => f !== ""))]),
    gpuProbeRoot: path.resolve(overrides.gpuProbeRoot ?? (env.VCM_GPU_PROBE_ROOT?.trim() || DEFAULT_APP_CONFIG.gpuProbeRoot)),
    gpuEnvironment: overrides.gpuEnvironment ?? Object.freeze(Object.fromEntries(GPU_ENVIRONMENT_VARIABLES.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])))),
  });
}

/** Whether a switch variable (VCM_NATIVE_MATMUL, VCM_BF16_DELETIONS) says off: off, 0, false or no, in any case. */
function switchedOff(value: string | undefined): boolean {
  return ["off", "0", "false", "no"].includes((value ?? "").trim().toLowerCase());
}

/** Whether the standard OpenTelemetry variables ask for traces over OTLP (AppConfig.otlpTraces). */
function otlpTracesWanted(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "").split(",").map((name) => name.trim().toLowerCase()).filter((name) => name !== "");
  if (exporters.length > 0) return exporters.includes("otlp");
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/** The share of requests to trace that OTEL_TRACES_SAMPLER (and its ARG) ask for (AppConfig.traceSampleRatio). */
function traceSampleRatio(env: NodeJS.ProcessEnv): number {
  const sampler = (env.OTEL_TRACES_SAMPLER ?? "").trim().toLowerCase();
  if (sampler === "always_off" || sampler === "parentbased_always_off") return 0;
  if (sampler !== "traceidratio" && sampler !== "parentbased_traceidratio") return DEFAULT_APP_CONFIG.traceSampleRatio;
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim() || "1";
  const ratio = Number(arg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new UserError(ErrorCode.BAD_USER_INPUT, `OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1, got "${arg}"`);
  return ratio;
}

/** Whether a `--db` / VCM_DB value is a PostgreSQL URL (postgres:// or postgresql://) rather than a SQLite file. */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value.trim());
}

/** A SQLite path made absolute (the CLI may change folder), a PostgreSQL URL as given. */
function databaseTarget(value: string): string {
  return isPostgresUrl(value) ? value.trim() : path.resolve(value);
}
