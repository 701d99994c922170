/**
 * The job queue (src/services/job-queue.ts) with a kind of its own: real forked workers
 * (job-queue-worker.ts), rows kept in memory by the test's runner. Jobs start oldest first, one at a
 * time, each worker gets its typed argument; a cancel reaches the worker over IPC, whether asked here
 * or seen on the lease at a heartbeat; a lease another server took kills the worker; close stops the
 * worker with the kind's signal. holdLease, the one heartbeat of a running job of any kind, renews one
 * renewal at a time and stops once the lease is lost.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { holdLease, JobQueue, type JobExit, type JobRunner } from "../../src/services/job-queue.ts";

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), "job-queue-worker.ts");

interface Started {
  readonly type: "started";
  readonly argument: { readonly id: number; readonly wait: boolean };
}

/** A kind whose queued rows live in memory; `cancelRequested` plays a cancel asked on another server, `held` false another server that took the job. */
function memoryKind(o: { ids: number[]; wait?: ReadonlyArray<number>; cancelRequested?: () => boolean; held?: () => boolean }) {
  const queued = [...o.ids];
  const state = { running: 0, most: 0 };
  const started: Started["argument"][] = [];
  const exits = new Map<number, JobExit>();
  const order: number[] = [];
  const runner: JobRunner<Started> = {
    kind: "test job",
    workerPath: WORKER,
    stopSignal: "SIGTERM",
    queued: async (limit) => queued.slice(0, limit),
    claim: async ({ id }) => {
      const at = queued.indexOf(id);
      if (at < 0) return false;
      queued.splice(at, 1);
      return true;
    },
    renew: async () => ({ held: o.held?.() ?? true, cancelRequested: o.cancelRequested?.() ?? false }),
    failAbandoned: async () => [],
    start: async ({ id }) => {
      state.running += 1;
      state.most = Math.max(state.most, state.running);
      order.push(id);
      return {
        argument: { id, wait: o.wait?.includes(id) ?? false },
        onMessage: (message) => started.push(message.argument),
        settle: async (exit) => {
          state.running -= 1;
          exits.set(id, exit);
        },
      };
    },
  };
  return { runner, state, started, exits, order };
}

async function until(what: string, probe: () => boolean): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not happen within 30 s`);
}

describe("the job queue", () => {
  it("runs queued jobs oldest first, one at a time, each worker with its typed argument", async () => {
    const kind = memoryKind({ ids: [1, 2, 3] });
    const queue = new JobQueue({ runner: kind.runner });
    await queue.pump();
    await queue.idle();
    expect(kind.order).toEqual([1, 2, 3]);
    expect(kind.state.most).toBe(1);
    expect(kind.started).toEqual([
      { id: 1, wait: false },
      { id: 2, wait: false },
      { id: 3, wait: false },
    ]);
    expect([...kind.exits.values()].map((e) => [e.code, e.cancelled])).toEqual([
      [0, false],
      [0, false],
      [0, false],
    ]);
    await queue.close();
  }, 60_000);

  it("cancels the job it runs over IPC and records it as cancelled; another job is not its to cancel", async () => {
    const kind = memoryKind({ ids: [7, 8], wait: [7] });
    const queue = new JobQueue({ runner: kind.runner });
    await queue.pump();
    await until("the worker's start", () => kind.started.length === 1);
    expect(queue.runningId).toBe(7);
    expect(await queue.cancelRunning(8)).toBe(false);
    expect(await queue.cancelRunning(7)).toBe(true);
    expect(kind.exits.get(7)).toMatchObject({ code: 3, cancelled: true, closing: false });
    // The next job starts once the cancelled one has handed back its turn.
    await queue.idle();
    expect(kind.order).toEqual([7, 8]);
    await queue.close();
  }, 60_000);

  it("stops its worker when the lease says a cancel was asked elsewhere (at the next heartbeat)", async () => {
    let asked = false;
    const kind = memoryKind({ ids: [4], wait: [4], cancelRequested: () => asked });
    const queue = new JobQueue({ runner: kind.runner, leaseSeconds: 0.75 });
    await queue.recover();
    await until("the worker's start", () => kind.started.length === 1);
    asked = true;
    await until("the cancel", () => kind.exits.has(4));
    expect(kind.exits.get(4)).toMatchObject({ code: 3, cancelled: true });
    await queue.close();
  }, 60_000);

  it("stops the running worker at close with the kind's signal, and starts nothing after", async () => {
    const kind = memoryKind({ ids: [5, 6], wait: [5] });
    const queue = new JobQueue({ runner: kind.runner });
    await queue.pump();
    await until("the worker's start", () => kind.started.length === 1);
    await queue.close();
    expect(kind.exits.get(5)).toMatchObject({ code: null, signal: "SIGTERM", cancelled: false, closing: true });
    expect(kind.order).toEqual([5]);
  }, 60_000);

  it("kills its worker when the lease renewal finds that another server took the job", async () => {
    let held = true;
    const kind = memoryKind({ ids: [9], wait: [9], held: () => held });
    const queue = new JobQueue({ runner: kind.runner, leaseSeconds: 0.75 });
    await queue.recover();
    await until("the worker's start", () => kind.started.length === 1);
    held = false;
    await until("the worker's end", () => kind.exits.has(9));
    expect(kind.exits.get(9)).toMatchObject({ code: null, signal: "SIGKILL", cancelled: false, closing: false });
    await queue.close();
  }, 60_000);
});

describe("holdLease", () => {
  it("renews one renewal at a time, reports a cancel asked elsewhere, and stops renewing once the lease is lost", async () => {
    let renewals = 0;
    let inFlight = 0;
    let most = 0;
    let lost = 0;
    let cancels = 0;
    const lease = holdLease({
      name: "test job 1",
      leaseMs: 750,
      // Slower than the 250 ms between beats: beats must wait for the renewal before them.
      renew: async () => {
        renewals += 1;
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 400));
        inFlight -= 1;
        return { held: renewals < 3, cancelRequested: renewals === 2 };
      },
      onLost: () => (lost += 1),
      onCancelRequested: () => (cancels += 1),
    });
    await until("the lease's loss", () => lost === 1);
    // Several more beats: none renews again.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await lease.stop();
    expect({ renewals, most, lost, cancels }).toEqual({ renewals: 3, most: 1, lost: 1, cancels: 1 });
  }, 60_000);
});
