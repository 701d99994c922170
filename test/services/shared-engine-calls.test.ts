/**
 * The one batching mechanism across requests: callers that arrive together share one engine call,
 * each gets its own answers in its own order, and a failed call fails every caller that joined it.
 */
import { describe, expect, it } from "vitest";
import { SharedEngineCalls } from "../../src/services/shared-engine-calls.ts";

describe("SharedEngineCalls", () => {
  it("runs one call for the callers of one turn, answering each in its order", async () => {
    const calls = new SharedEngineCalls();
    const runs: number[][] = [];
    const run = async (all: ReadonlyArray<number>) => {
      runs.push([...all]);
      return all.map((n) => n * 10);
    };
    const [a, b] = await Promise.all([calls.run({ key: "k", requests: [3, 1], run }), calls.run({ key: "k", requests: [2], run })]);
    expect(runs).toEqual([[3, 1, 2]]);
    expect(a).toEqual([30, 10]);
    expect(b).toEqual([20]);
    // Another kind, or a later turn, is a call of its own.
    await Promise.all([calls.run({ key: "k", requests: [5], run }), calls.run({ key: "other", requests: [6], run })]);
    expect(runs).toEqual([[3, 1, 2], [5], [6]]);
  });

  it("waits the busy window for a caller a millisecond later while another caller uses the engine", async () => {
    const calls = new SharedEngineCalls();
    const runs: number[][] = [];
    const run = async (all: ReadonlyArray<number>) => {
      runs.push([...all]);
      return [...all];
    };
    let release = (): void => undefined;
    const busy = calls.during(() => new Promise<void>((resolve) => (release = resolve)));
    const answers = await calls.during(async () => {
      const first = calls.run({ key: "k", requests: [1], run });
      await new Promise((resolve) => setTimeout(resolve, 1));
      return Promise.all([first, calls.run({ key: "k", requests: [2], run })]);
    });
    release();
    await busy;
    expect(runs).toEqual([[1, 2]]);
    expect(answers).toEqual([[1], [2]]);
  });

  it("fails every caller that joined a failed call", async () => {
    const calls = new SharedEngineCalls();
    const run = async (): Promise<number[]> => {
      throw new Error("engine out of memory");
    };
    const results = await Promise.allSettled([calls.run({ key: "k", requests: [1], run }), calls.run({ key: "k", requests: [2], run })]);
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as Error).message : "answered"))).toEqual(["engine out of memory", "engine out of memory"]);
  });
});
