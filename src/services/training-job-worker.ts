/**
 * The child process of one training job: trains and saves through the training service and reports
 * each epoch to the parent over IPC. Started by TrainingJobService with tsx registered
 * (`--import tsx`); its one argument is the TrainingJobSpec as JSON.
 */
import "reflect-metadata";
import { retryWhileBusyOrUnavailable } from "../db/busy.ts";
import { openDatabase } from "../db/data-source.ts";
import { UserError } from "../errors.ts";
import type { JobCancel } from "./job-queue.ts";
import type { TrainingJobMessage, TrainingJobSpec } from "./jobs.ts";
import { trainAndSaveResolved } from "./training.ts";

/** Sends a message to the parent; resolves (without sending) once the parent is gone. */
function send(message: TrainingJobMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    try {
      process.send(message, undefined, {}, () => resolve());
    } catch {
      resolve();
    }
  });
}

async function run(spec: TrainingJobSpec): Promise<void> {
  const abort = new AbortController();
  process.on("message", (message: JobCancel) => {
    if (message.type === "cancel") abort.abort();
  });
  // A parent that died cannot record the result: stop instead of training on unobserved.
  process.on("disconnect", () => abort.abort());
  // A database restarting as the job starts is waited for, as every later write of the job is.
  const dataSource = await retryWhileBusyOrUnavailable(() => openDatabase(spec.dbPath));
  let modelId: number | undefined;
  try {
    // The job's configuration was resolved when it was started (TrainingJobService.start): passed on as it is.
    const { model } = await trainAndSaveResolved({
      dataSource,
      dataset: spec.datasetId,
      config: spec.config,
      fromModel: spec.fromModel ?? undefined,
      modelsDir: spec.modelsDir,
      signal: abort.signal,
      onPhase: (_phase, id) => {
        if (id !== undefined && modelId === undefined) void send({ type: "model", modelId: id });
        modelId = id;
      },
      onEpoch: (record) => {
        void send({ type: "epoch", record });
      },
    });
    await send({ type: "done", modelId: model.id });
  } catch (error) {
    // A cancelled run keeps no model: the job's owner removes the row (failed by the training service) when this process ends.
    const cancelled = abort.signal.aborted;
    await send({
      type: "failed",
      message: cancelled
        ? "Cancelled while training; no model was kept."
        : error instanceof Error
          ? error instanceof UserError
            ? error.message
            : (error.stack ?? error.message)
          : String(error),
      userError: cancelled || error instanceof UserError,
    });
  } finally {
    await dataSource.destroy();
  }
}

const spec = JSON.parse(process.argv[2] ?? "{}") as TrainingJobSpec;
await run(spec);
// The IPC channel would keep the process alive; training is over, so leave.
if (process.connected) process.disconnect();
