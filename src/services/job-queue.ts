/**
 * The one queue of background jobs, whatever their kind (training jobs, experiments): a kind's rows
 * wait QUEUED in the database; a server claims the oldest with a conditional update (so two servers
 * never run one), runs it in a forked worker module of src/services (one job of each kind at a time
 * per server: a job uses every core), holds its lease while it runs (holdLease, the one heartbeat of
 * a running job of any kind), fails the running jobs of servers that are gone, and cancels by asking
 * its worker over IPC, killing it after a grace period.
 * What differs per kind (its table, its worker and what its messages and end mean) is its JobRunner.
 */
import { fork, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { isTransientDatabaseError } from "../db/busy.ts";
import { newLeaseOwner } from "../db/job-leases.ts";
import { startSpan } from "../observability/tracing.ts";

/** Milliseconds a worker gets to stop on its own after a cancel before it is killed. */
export const CANCEL_GRACE_MS = 10_000;

/** tsx's loader by absolute URL, so a worker (TypeScript) finds it whatever the working directory. */
const TSX_LOADER = import.meta.resolve("tsx");

/** The message a worker gets when its job is cancelled: stop after the current step. */
export interface JobCancel {
  readonly type: "cancel";
}

/** How a worker ended, as its queue saw it. */
export interface JobExit {
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Whether this server cancelled the job while it ran. */
  readonly cancelled: boolean;
  /** Whether the server was shutting down (close()). */
  readonly closing: boolean;
}

/** One claimed job about to run: its worker's one argument, and what its messages and its end mean. */
export interface JobRun<Message> {
  /** Passed to the worker as one JSON argument (typed by the kind; no flags parsed back). */
  readonly argument: unknown;
  /** Where the worker's stdout and stderr go (appended); the server's own when absent. */
  readonly logFile?: string;
  onMessage?(message: Message): void;
  /** Records the job's end once its worker has exited. */
  settle(exit: JobExit): Promise<void>;
}

/** What one kind of job tells the queue: where its rows are and how one of its jobs runs. */
export interface JobRunner<Message> {
  /** The kind's name in log lines. */
  readonly kind: string;
  /** The worker module forked for each job. */
  readonly workerPath: string;
  /** How the worker is stopped at server shutdown. */
  readonly stopSignal: NodeJS.Signals;
  /** Up to `limit` queued jobs' ids, oldest first. */
  queued(limit: number): Promise<ReadonlyArray<number>>;
  /** Marks a queued job running for `owner`; false when another server took it (or it was cancelled) first. */
  claim(o: { id: number; owner: string; leaseMs: number }): Promise<boolean>;
  /** Extends the lease of the job this server runs; `held` false when another server failed it meanwhile. */
  renew(o: { id: number; owner: string; leaseMs: number }): Promise<LeaseState>;
  /** Fails the running jobs whose owner is gone, each once; returns their ids. */
  failAbandoned(o: { exceptOwner: string }): Promise<ReadonlyArray<number>>;
  /** Prepares the run of a job this server has just claimed. */
  start(o: { id: number; owner: string; leaseMs: number }): Promise<JobRun<Message>>;
}

/** What one renewal of a running job's lease found. */
export interface LeaseState {
  /** False once the job no longer runs under this owner (another process failed it after the lease ran out). */
  readonly held: boolean;
  /** A cancel was asked elsewhere (on another server, or by `vcm cancel-experiment`). */
  readonly cancelRequested: boolean;
}

/** A lease being held; stop() ends its heartbeat and waits for a renewal in flight. */
export interface HeldLease {
  stop(): Promise<void>;
}

/**
 * The heartbeat of a running job, whoever runs it (a server's queue for its worker, or `vcm experiment`
 * on its own): renews the lease every third of it, one renewal in flight at a time; calls `onLost` once
 * when the job was taken away (and stops renewing), `onCancelRequested` while a cancel asked elsewhere
 * stands. A renewal that fails (a lock, a database restarting) is tried again at the next beat: the
 * lease outlasts a few.
 */
export function holdLease(o: { name: string; leaseMs: number; renew: () => Promise<LeaseState>; onLost: () => void; onCancelRequested: () => void }): HeldLease {
  let beating: Promise<void> = Promise.resolve();
  let lost = false;
  const timer = setInterval(() => {
    beating = beating.then(async () => {
      if (lost) return;
      try {
        const lease = await o.renew();
        if (!lease.held) {
          lost = true;
          o.onLost();
        } else if (lease.cancelRequested) {
          o.onCancelRequested();
        }
      } catch (error) {
        if (!isTransientDatabaseError(error)) console.error(`${o.name}: could not renew its lease; trying again at the next beat`, error);
      }
    });
  }, heartbeatMs(o.leaseMs));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await beating;
    },
  };
}

/** Milliseconds between two heartbeats: a third of a lease, so that two may fail before it runs out. */
function heartbeatMs(leaseMs: number): number {
  return Math.max(250, Math.floor(leaseMs / 3));
}

/** The job this queue runs now. */
interface RunningJob {
  readonly id: number;
  readonly child: ChildProcess;
  cancelled: boolean;
  readonly exited: Promise<void>;
}

/** The queue of one kind of job on one server. */
export class JobQueue<Message> {
  readonly #runner: JobRunner<Message>;
  /** This process's name in the owner column of the jobs it claims. */
  readonly owner = newLeaseOwner();
  readonly #leaseMs: number;
  #running: RunningJob | undefined;
  /** Fails abandoned jobs and picks up queued ones (started by recover()); the running job's lease has its own (holdLease). */
  #heartbeat: NodeJS.Timeout | undefined;
  /** Set by close(): no new job starts. */
  #closing = false;
  /** Serialises state changes so that two pumps never start two workers. */
  #turns: Promise<void> = Promise.resolve();

  constructor(o: {
    runner: JobRunner<Message>;
    /** Seconds a lease lasts without renewal (AppConfig.jobLeaseSeconds); renewed every third of it. */
    leaseSeconds?: number;
  }) {
    this.#runner = o.runner;
    this.#leaseMs = (o.leaseSeconds ?? 30) * 1000;
  }

  /** Milliseconds a lease lasts without renewal. */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** The id of the job this server runs now, if any. */
  get runningId(): number | undefined {
    return this.#running?.id;
  }

  /**
   * Call once at server start: running jobs whose owner is gone are failed, queued ones start in order,
   * and from then on a heartbeat does the same every third of a lease.
   */
  async recover(): Promise<{ failed: number }> {
    const failed = await this.#runner.failAbandoned({ exceptOwner: this.owner });
    await this.pump();
    if (this.#heartbeat === undefined && !this.#closing) {
      this.#heartbeat = setInterval(() => void this.#beat(), heartbeatMs(this.#leaseMs));
      this.#heartbeat.unref();
    }
    return { failed: failed.length };
  }

  /** One heartbeat of the queue: sweep and pump. */
  async #beat(): Promise<void> {
    try {
      await this.#runner.failAbandoned({ exceptOwner: this.owner });
      await this.pump();
    } catch (error) {
      // Another process's long write holds the lock, or the database is restarting: the next beat tries again (the lease outlasts a few).
      if (!isTransientDatabaseError(error)) console.error(`${this.#runner.kind}s: heartbeat failed; trying again at the next one`, error);
    }
  }

  /** Fails the running jobs of servers that are gone, now (before a start that may reuse their row). */
  async sweep(): Promise<ReadonlyArray<number>> {
    return this.#runner.failAbandoned({ exceptOwner: this.owner });
  }

  /** Runs a state change in turn with the pump (so a queued job cannot start while it is being changed); a failed one does not block the next. */
  inTurn<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#turns.then(step);
    this.#turns = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Starts the oldest queued job when this server runs none of this kind. */
  pump(): Promise<void> {
    return this.inTurn(async () => {
      if (this.#running !== undefined || this.#closing) return;
      for (const id of await this.#runner.queued(10)) {
        // Another server on the database may claim the same job at the same moment: one wins.
        if (!(await this.#runner.claim({ id, owner: this.owner, leaseMs: this.#leaseMs }))) continue;
        this.#launch(id, await this.#runner.start({ id, owner: this.owner, leaseMs: this.#leaseMs }));
        return;
      }
    });
  }

  #launch(id: number, run: JobRun<Message>): void {
    const log = run.logFile === undefined ? undefined : fs.openSync(run.logFile, "a");
    const output = log ?? "inherit";
    // tsx is registered in the worker too (it is TypeScript); the IPC channel carries a cancel, and its closing tells the worker that this server is gone.
    const child = fork(this.#runner.workerPath, [JSON.stringify(run.argument)], {
      execArgv: ["--import", TSX_LOADER],
      stdio: ["ignore", output, output, "ipc"],
    });
    if (log !== undefined) fs.closeSync(log);
    if (run.onMessage !== undefined) child.on("message", (message: Message) => run.onMessage?.(message));
    const lease = holdLease({
      name: `${this.#runner.kind} ${id}`,
      leaseMs: this.#leaseMs,
      renew: () => this.#runner.renew({ id, owner: this.owner, leaseMs: this.#leaseMs }),
      onLost: () => {
        // Failed elsewhere after our lease ran out (the database was locked too long): stop, publish nothing.
        console.error(`${this.#runner.kind} ${id}: another server failed it after this server's lease ran out; stopping it`);
        child.kill("SIGKILL");
      },
      onCancelRequested: () => {
        const running = this.#running;
        if (running?.child === child && !running.cancelled) void this.#stop(running);
      },
    });
    // The job's worker is another process: its span here runs from the fork to the worker's exit.
    const span = startSpan({ name: `job ${this.#runner.kind}`, attributes: { "vcm.job.kind": this.#runner.kind, "vcm.job.id": id } });
    const exited = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        span.setAttributes({ "vcm.job.exit_code": code ?? -1, "vcm.job.signal": signal ?? "" });
        span.end();
        const running = this.#running;
        this.#running = undefined;
        lease
          .stop()
          .then(() => run.settle({ pid: child.pid, code, signal, cancelled: running?.cancelled ?? false, closing: this.#closing }))
          .catch((error: unknown) => console.error(`${this.#runner.kind} ${id}: could not record its end`, error))
          .then(() => this.pump())
          .catch((error: unknown) => console.error(`${this.#runner.kind}s: could not start the next one`, error))
          .finally(resolve);
      });
    });
    this.#running = { id, child, cancelled: false, exited };
  }

  /**
   * Stops the job this server runs, if it is `id`: asks its worker, kills it after the grace period,
   * and resolves once its end is recorded. False when this server does not run it.
   */
  async cancelRunning(id: number): Promise<boolean> {
    const running = this.#running;
    if (running === undefined || running.id !== id) return false;
    await this.#stop(running);
    return true;
  }

  async #stop(running: RunningJob): Promise<void> {
    running.cancelled = true;
    if (running.child.connected) running.child.send({ type: "cancel" } satisfies JobCancel);
    const timer = setTimeout(() => running.child.kill("SIGKILL"), CANCEL_GRACE_MS);
    await running.exited;
    clearTimeout(timer);
  }

  /** Stops the heartbeat and the running worker at server shutdown; the kind's settle records why. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await this.#turns;
    const running = this.#running;
    if (running === undefined) return;
    running.child.kill(this.#runner.stopSignal);
    await running.exited;
  }

  /** Resolves when no job of this kind runs here or waits (tests and scripts wait on it). */
  async idle(): Promise<void> {
    for (;;) {
      const running = this.#running;
      if (running !== undefined) {
        await running.exited;
        await this.#turns;
        continue;
      }
      if ((await this.#runner.queued(1)).length === 0) return;
      await this.pump();
      if (this.#running === undefined) return;
    }
  }
}
