/**
 * The worker process of one experiment, as training-job-worker.ts is of a training job: runs (or
 * resumes) it through runExperiment under the name of the server that claimed its row (whose job
 * queue holds the lease and relays a cancel over IPC), writes its progress and its end on the row, and
 * its summary as one JSON line to its log. Forked by ExperimentJobService through the job queue
 * (job-queue.ts) with tsx registered; its one argument is the ExperimentJobSpec as JSON.
 */
import "reflect-metadata";
import { retryWhileBusyOrUnavailable } from "../db/busy.ts";
import { openDatabase } from "../db/data-source.ts";
import { UserError } from "../errors.ts";
import type { ExperimentJobSpec } from "./experiment-jobs.ts";
import type { JobCancel } from "./job-queue.ts";
import { experimentProgressLine, runExperiment } from "./experiment.ts";

async function run(spec: ExperimentJobSpec): Promise<number> {
  const cancel = new AbortController();
  process.on("message", (message: JobCancel) => {
    if (message.type === "cancel") cancel.abort();
  });
  process.once("disconnect", () => {
    // The row stays running under the gone server's name: another server then fails it, once.
    console.error("experiment worker: the server that started this experiment is gone; stopping (another server marks it failed)");
    process.exit(1);
  });
  const dataSource = await retryWhileBusyOrUnavailable(() => openDatabase(spec.dbPath));
  try {
    const summary = await runExperiment({
      dataSource,
      modelsDir: spec.modelsDir,
      heldBy: spec.owner,
      leaseMs: spec.leaseMs,
      signal: cancel.signal,
      args: spec.args,
      outDir: spec.outDir,
      onProgress: (e) => console.error(experimentProgressLine(e)),
    });
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } catch (error) {
    // runExperiment has recorded the end on the row already; the log says why.
    console.error(error instanceof UserError ? error.message : error);
    return 1;
  } finally {
    await dataSource.destroy();
  }
}

const spec = JSON.parse(process.argv[2] ?? "{}") as ExperimentJobSpec;
process.exitCode = await run(spec);
// The IPC channel would keep the process alive; the experiment is over, so leave.
if (process.connected) process.disconnect();
