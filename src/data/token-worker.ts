/**
 * Tokenising review texts on a second thread while the ingest's own thread parses, interns and stages
 * (corpus.ts CorpusBuilder). Lowercasing, the token pattern and interning the words are about a third
 * of an ingest's CPU time; here they run beside the rest, on the other core.
 *
 * The builder sends batches of texts in order; the worker tokenises each as tokenize.ts does, interns
 * the words in its own table (stop words to −1, first come first numbered) and answers with each
 * text's token count, the token ids, and the words it numbered for the first time. The builder maps
 * those local ids to its own, in order, so ids and tokens come out exactly as on one thread.
 *
 * Everything stays synchronous on the builder's side: answers are taken with receiveMessageOnPort, and
 * when too many batches are in flight (or at the end) the builder waits with Atomics.wait on a counter
 * the worker bumps after each answer. So parsers need no change, and at most MAX_IN_FLIGHT batches of
 * texts wait in memory. The worker runs from source text (eval), so it needs no loader for TypeScript.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { TOKEN_PATTERN } from "./tokenizer.ts";

/** What the worker answers for one batch. */
export interface TokenBatch {
  /** Tokens (stop words and one-character tokens left out) of each text of the batch. */
  readonly counts: Int32Array;
  /** The tokens' ids in the worker's numbering, text after text. */
  readonly tokens: Int32Array;
  /** Words the worker numbered for the first time in this batch, in the order of their ids. */
  readonly fresh: string[];
}

const MAX_IN_FLIGHT = 8;

/** The worker, as CommonJS source (eval workers are CommonJS), with tokenizer.ts's TOKEN_PATTERN. */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { port, counter, stopWords } = workerData;
const done = new Int32Array(counter);
const ids = new Map();
for (const word of stopWords) ids.set(word, -1);
let next = 0;
const PATTERN = new RegExp(${JSON.stringify(TOKEN_PATTERN.source)}, ${JSON.stringify(TOKEN_PATTERN.flags)});
port.on("message", ({ texts }) => {
  try {
    answer(texts);
  } catch (error) {
    port.postMessage({ error: String(error && error.message ? error.message : error) });
  }
  Atomics.add(done, 0, 1);
  Atomics.notify(done, 0);
});
function answer(texts) {
  const counts = new Int32Array(texts.length);
  let tokens = new Int32Array(4096);
  let n = 0;
  const fresh = [];
  for (let r = 0; r < texts.length; r++) {
    const matches = texts[r].toLowerCase().match(PATTERN);
    let count = 0;
    if (matches !== null) {
      for (const token of matches) {
        if (token.length < 2) continue;
        let t = ids.get(token);
        if (t === undefined) {
          t = next++;
          ids.set(token, t);
          fresh.push(token);
        }
        if (t < 0) continue;
        if (n === tokens.length) {
          const grown = new Int32Array(n * 2);
          grown.set(tokens);
          tokens = grown;
        }
        tokens[n++] = t;
        count++;
      }
    }
    counts[r] = count;
  }
  const used = tokens.slice(0, n);
  port.postMessage({ counts, tokens: used, fresh }, [counts.buffer, used.buffer]);
}
`;

export class TokenWorker {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly done: Int32Array;
  private sent = 0;
  private received = 0;
  private failure: Error | undefined;

  /** `onBatch` gets each answer, in the order the batches were sent. */
  constructor(
    stopWords: ReadonlySet<string>,
    private readonly onBatch: (batch: TokenBatch) => void,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const counter = new SharedArrayBuffer(4);
    this.done = new Int32Array(counter);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2, counter, stopWords: [...stopWords] }, transferList: [port2] });
    this.worker.on("error", (error) => {
      this.failure = error;
    });
    // Neither keeps the process alive: the builder takes every answer synchronously.
    this.worker.unref();
    this.port.unref();
  }

  /** Sends one batch of texts; takes the answers that are in, and waits while too many are out. */
  send(texts: string[]): void {
    this.port.postMessage({ texts });
    this.sent += 1;
    this.take();
    while (this.sent - this.received > MAX_IN_FLIGHT) this.waitForOne();
  }

  /** Waits for every batch sent so far. */
  drain(): void {
    this.take();
    while (this.received < this.sent) this.waitForOne();
  }

  /** Stops the thread (when the read is over, or failed). */
  close(): void {
    void this.worker.terminate();
    this.port.close();
  }

  private take(): void {
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) {
      this.received += 1;
      const answer = m.message as TokenBatch | { error: string };
      if ("error" in answer) throw new Error(`the tokenising thread failed: ${answer.error}`);
      this.onBatch(answer);
    }
  }

  private waitForOne(): void {
    const before = this.received;
    while (this.received === before) {
      if (this.failure) throw this.failure;
      // Answers counted by the worker but not yet taken are in the port already.
      if (Atomics.load(this.done, 0) > this.received) this.take();
      else Atomics.wait(this.done, 0, this.received, 1000);
    }
  }
}
