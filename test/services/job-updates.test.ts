/**
 * The per-job fan-out of training-job updates: a burst of changes is read once and sent as its latest
 * state, every subscriber of the job shares that read, a job nobody watches is never read, and a
 * subscriber that leaves while it waits is gone at once.
 */
import { describe, expect, it } from "vitest";
import type { TrainingJob } from "../../src/db/entities/training-job.entity.ts";
import { JobUpdates, TRAINING_JOB_UPDATES, type JobUpdate } from "../../src/services/job-updates.ts";

const WINDOW_MS = 30;

function row(epoch: number, status: TrainingJob["status"] = "running"): TrainingJob {
  return { id: 7, status, epoch, cancelRequested: false, modelId: null } as TrainingJob;
}

/** A hub over a fake table: `state.job` is what a read finds; `reads` counts the reads. */
function hub() {
  const state = { job: row(0), reads: 0 };
  const updates = new JobUpdates<TrainingJob, JobUpdate>({
    rules: TRAINING_JOB_UPDATES,
    windowMs: WINDOW_MS,
    read: async ({ row: given }) => {
      state.reads += 1;
      return { job: given ?? state.job, model: null };
    },
  });
  return { state, updates };
}

/** Waits (polling, for at most 10 s) until a condition holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1_000 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

async function take(stream: AsyncIterator<JobUpdate>): Promise<number | "done"> {
  const next = await stream.next();
  return next.done ? "done" : next.value.job.epoch;
}

describe("JobUpdates", () => {
  it("reads a burst of changes once and sends its latest state to every subscriber", async () => {
    const { state, updates } = hub();
    const streams = Array.from({ length: 50 }, () => updates.watch(7));
    expect(await Promise.all(streams.map(take))).toEqual(Array(50).fill(0));
    expect(state.reads).toBe(1);
    for (let epoch = 1; epoch <= 100; epoch += 1) {
      state.job = row(epoch);
      updates.changed(7);
    }
    expect(await Promise.all(streams.map(take))).toEqual(Array(50).fill(100));
    expect(state.reads).toBe(2);
    // A change that came with its row is not read again; the last state ends every stream.
    updates.changed(7, row(100, "succeeded"));
    expect(await Promise.all(streams.map(take))).toEqual(Array(50).fill(100));
    expect(state.reads).toBe(3);
    expect(await Promise.all(streams.map(take))).toEqual(Array(50).fill("done"));
    expect(updates.watchers(7)).toBe(0);
  });

  it("sends a subscriber a state only once, and a slow one only the latest", async () => {
    const { state, updates } = hub();
    const stream = updates.watch(7);
    expect(await take(stream)).toBe(0);
    updates.changed(7);
    await until(() => state.reads === 2);
    state.job = row(1);
    updates.changed(7);
    await until(() => state.reads === 3);
    state.job = row(2);
    updates.changed(7);
    await until(() => state.reads === 4);
    // The unchanged state 0 was not sent again, and 1 was replaced by 2 before it was taken.
    expect(await take(stream)).toBe(2);
    await stream.return!();
  });

  it("reads nothing for a job nobody watches, and lets a waiting subscriber leave at once", async () => {
    const { state, updates } = hub();
    updates.changed(7, row(3));
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS * 3));
    expect(state.reads).toBe(0);
    const stream = updates.watch(7);
    expect(await take(stream)).toBe(0);
    const waiting = take(stream);
    await stream.return!();
    expect(await waiting).toBe("done");
    expect(updates.watchers(7)).toBe(0);
    updates.changed(7);
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS * 3));
    expect(state.reads).toBe(1);
  });

  it("reads again after a failed read while anyone watches, and close() ends every stream", async () => {
    let failures = 2;
    let reads = 0;
    const updates = new JobUpdates<TrainingJob, JobUpdate>({
      rules: TRAINING_JOB_UPDATES,
      windowMs: WINDOW_MS,
      read: async () => {
        reads += 1;
        if (failures > 0) {
          failures -= 1;
          throw new Error("the database is restarting");
        }
        return { job: row(5), model: null };
      },
    });
    const stream = updates.watch(7);
    expect(await take(stream)).toBe(5);
    expect(reads).toBe(3);
    const waiting = take(stream);
    updates.close();
    expect(await waiting).toBe("done");
  });
});
