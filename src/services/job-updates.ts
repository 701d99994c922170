/**
 * Job updates for subscribers (training jobs, experiments: one JobUpdates per kind of job, the same
 * code for every kind), coalesced per job. A change only marks the job; at most once
 * per JOB_UPDATE_WINDOW_MS its state is read once and handed to every subscriber of that job, so a
 * burst of changes costs one read and one message per subscriber, however many subscribers there are.
 * Each subscriber keeps only the latest state it has not taken yet: a slow client skips states
 * instead of queueing them. One server is one process, so this needs no broker; other servers' jobs
 * arrive as changes from the commit watch.
 */
import type { Experiment } from "../db/entities/experiment.entity.ts";
import { isExperimentOver } from "../db/experiment-rows.ts";
import type { TrainedModel } from "../db/entities/trained-model.entity.ts";
import type { TrainingJob } from "../db/entities/training-job.entity.ts";
import { isFinished } from "./jobs.ts";

/** What a training job's subscribers are sent: its row and its model's row, read once for all of them. */
export interface JobUpdate {
  readonly job: TrainingJob;
  /** The job's model row; null before the job made one, after a cancel, or once it was deleted. */
  readonly model: TrainedModel | null;
}

/** Shortest time between two updates of one job: the changes within it are sent as one, the latest. */
export const JOB_UPDATE_WINDOW_MS = 200;

/** What a kind of job tells its JobUpdates: which of its updates differ for a subscriber, and which is the last. */
export interface UpdateRules<Update> {
  /** What a subscriber is sent again only when it differs (not the lease, which every heartbeat renews). */
  stateOf(update: Update): string;
  /** Whether the update is the job's last state: the stream ends after it. */
  isFinal(update: Update): boolean;
}

/** A training job's: status, progress, cancel request and model. */
export const TRAINING_JOB_UPDATES: UpdateRules<JobUpdate> = {
  stateOf: ({ job, model }) => `${job.status} ${job.epoch} ${job.cancelRequested} ${job.modelId} ${model?.status ?? "-"}`,
  isFinal: ({ job }) => isFinished(job.status),
};

/** An experiment's: status, runs done and cancel request. */
export const EXPERIMENT_UPDATES: UpdateRules<Experiment> = {
  stateOf: (experiment) => `${experiment.status} ${experiment.runsDone} ${experiment.cancelRequested}`,
  isFinal: (experiment) => isExperimentOver(experiment.status),
};

/** One subscriber's stream: the latest update it has not taken, and its reader when one waits. */
class JobWatcher<Update> implements AsyncIterableIterator<Update> {
  readonly #leave: () => void;
  readonly #rules: UpdateRules<Update>;
  #pending: Update | undefined;
  #sentState: string | undefined;
  #wake: ((result: IteratorResult<Update, undefined>) => void) | undefined;
  #finished = false;
  #done = false;

  constructor(o: { leave: () => void; rules: UpdateRules<Update> }) {
    this.#leave = o.leave;
    this.#rules = o.rules;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Hands this subscriber an update (replacing one it has not taken yet), unless it already has that state. */
  offer(update: Update): void {
    if (this.#done || this.#finished || this.#rules.stateOf(update) === this.#sentState) return;
    const wake = this.#wake;
    if (wake === undefined) {
      this.#pending = update;
      return;
    }
    this.#wake = undefined;
    wake(this.#take(update));
  }

  async next(): Promise<IteratorResult<Update, undefined>> {
    if (this.#finished) this.#end();
    if (this.#done) return { value: undefined, done: true };
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      return this.#take(pending);
    }
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  /** Ends the stream at once, even while a read waits (an async generator would wait for its next update). */
  async return(): Promise<IteratorResult<Update, undefined>> {
    this.#end();
    return { value: undefined, done: true };
  }

  #take(update: Update): IteratorResult<Update, undefined> {
    this.#sentState = this.#rules.stateOf(update);
    // The stream ends after the job's last state.
    this.#finished = this.#rules.isFinal(update);
    return { value: update, done: false };
  }

  #end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = undefined;
    this.#leave();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.({ value: undefined, done: true });
  }
}

/** The subscribers of one job and where its next read stands. */
interface WatchedJob<Row, Update> {
  readonly watchers: Set<JobWatcher<Update>>;
  /** The row the last change came with; undefined when the next read must fetch it. */
  row: Row | undefined;
  timer: NodeJS.Timeout | undefined;
  reading: boolean;
  /** Changed while a read was in flight: read again once it is done. */
  dirty: boolean;
  /** The last update read, for a subscriber that joins between two changes. */
  latest: Update | undefined;
}

/** Per-job fan-out of one kind's job updates to subscribers (one per kind and server). */
export class JobUpdates<Row, Update> {
  readonly #read: (options: { jobId: number; row: Row | undefined }) => Promise<Update>;
  readonly #rules: UpdateRules<Update>;
  readonly #windowMs: number;
  readonly #jobs = new Map<number, WatchedJob<Row, Update>>();

  constructor(options: {
    /** Reads a job's update; `row` is the job's row when the change came with it (then only what else it needs is read). */
    read: (options: { jobId: number; row: Row | undefined }) => Promise<Update>;
    /** The kind's rules (TRAINING_JOB_UPDATES, EXPERIMENT_UPDATES). */
    rules: UpdateRules<Update>;
    windowMs?: number;
  }) {
    this.#read = options.read;
    this.#rules = options.rules;
    this.#windowMs = options.windowMs ?? JOB_UPDATE_WINDOW_MS;
  }

  /** A change of a job, with its new row when the caller has it; nothing is read for a job nobody watches. */
  changed(jobId: number, row?: Row): void {
    const watched = this.#jobs.get(jobId);
    if (watched === undefined) return;
    watched.row = row;
    this.#schedule(jobId, watched);
  }

  /**
   * The job's state now, then after its changes (coalesced), ending after a finished state. The
   * subscriber counts from this call on, so no change after it is missed.
   */
  watch(jobId: number): AsyncIterableIterator<Update> {
    let watched = this.#jobs.get(jobId);
    const watcher: JobWatcher<Update> = new JobWatcher({ leave: () => this.#leave(jobId, watcher), rules: this.#rules });
    if (watched === undefined) {
      watched = { watchers: new Set(), row: undefined, timer: undefined, reading: false, dirty: false, latest: undefined };
      this.#jobs.set(jobId, watched);
      this.#schedule(jobId, watched);
    }
    watched.watchers.add(watcher);
    if (watched.latest !== undefined) watcher.offer(watched.latest);
    return watcher;
  }

  /** How many subscribers watch a job now. */
  watchers(jobId: number): number {
    return this.#jobs.get(jobId)?.watchers.size ?? 0;
  }

  /** One read of a job's update, shared by all its subscribers (a method, so tests can count the reads). */
  async snapshot(options: { jobId: number; row: Row | undefined }): Promise<Update> {
    return this.#read(options);
  }

  /** Ends every stream and cancels pending reads (the server is stopping). */
  close(): void {
    for (const watched of [...this.#jobs.values()]) {
      clearTimeout(watched.timer);
      for (const watcher of [...watched.watchers]) void watcher.return();
    }
    this.#jobs.clear();
  }

  #schedule(jobId: number, watched: WatchedJob<Row, Update>): void {
    if (watched.reading) {
      watched.dirty = true;
      return;
    }
    if (watched.timer !== undefined) return;
    // #flush catches its own failures, so the timer's promise never rejects.
    watched.timer = setTimeout(() => void this.#flush(jobId, watched), this.#windowMs);
    watched.timer.unref();
  }

  async #flush(jobId: number, watched: WatchedJob<Row, Update>): Promise<void> {
    watched.timer = undefined;
    watched.reading = true;
    watched.dirty = false;
    const row = watched.row;
    watched.row = undefined;
    let update: Update | undefined;
    try {
      update = await this.snapshot({ jobId, row });
    } catch {
      // The database may be restarting: read again after the window, while anyone still watches.
      watched.dirty = true;
    } finally {
      watched.reading = false;
    }
    if (this.#jobs.get(jobId) !== watched) return;
    if (update !== undefined) {
      watched.latest = update;
      for (const watcher of [...watched.watchers]) watcher.offer(update);
    }
    if (watched.dirty && this.#jobs.get(jobId) === watched) this.#schedule(jobId, watched);
  }

  #leave(jobId: number, watcher: JobWatcher<Update>): void {
    const watched = this.#jobs.get(jobId);
    if (watched === undefined || !watched.watchers.delete(watcher) || watched.watchers.size > 0) return;
    clearTimeout(watched.timer);
    this.#jobs.delete(jobId);
  }
}
