/**
 * Heavy queries take turns (issue 8, item 7): the gate admits `concurrency` at a time in arrival
 * order, refuses with SERVER_BUSY and a sentence beyond its queue or its wait, and refuses the
 * waiting ones at server stop. recommendForText is costed as the forward pass it is.
 */
import { GraphQLError } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeavyQueryGate } from "../../src/graphql/heavy-gate.ts";
import { MAX_QUERY_COST } from "../../src/graphql/limits.ts";
import { createApiFixture, type ApiFixture } from "./api-fixture.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("HeavyQueryGate", () => {
  it("admits one at a time in arrival order and passes each turn on", async () => {
    const gate = new HeavyQueryGate({ concurrency: 1, maxQueue: 10, maxWaitMs: 5_000 });
    const order: string[] = [];
    const run = async (name: string, ms: number) => {
      const release = await gate.enter();
      order.push(`${name} in`);
      await sleep(ms);
      order.push(`${name} out`);
      release();
      release(); // a second call gives nothing back twice
    };
    await Promise.all([run("a", 30), run("b", 10), run("c", 1)]);
    expect(order).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it("hands the turn on at the next turn of the event loop, so that sockets are read between heavy queries", async () => {
    const gate = new HeavyQueryGate({ concurrency: 1, maxQueue: 10, maxWaitMs: 5_000 });
    const order: string[] = [];
    const release = await gate.enter();
    const next = gate.enter().then((releaseNext) => {
      order.push("next query admitted");
      releaseNext();
    });
    // What a socket's data waits on: a callback queued before the turn is handed on.
    setImmediate(() => order.push("socket read"));
    release();
    await next;
    expect(order).toEqual(["socket read", "next query admitted"]);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it("refuses with SERVER_BUSY and a sentence when the queue is full, or a wait runs out", async () => {
    const gate = new HeavyQueryGate({ concurrency: 1, maxQueue: 1, maxWaitMs: 50 });
    const release = await gate.enter();
    const waiting = gate.enter();
    const refused = await gate.enter().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GraphQLError);
    expect((refused as GraphQLError).extensions.code).toBe("SERVER_BUSY");
    expect((refused as GraphQLError).message).toMatch(/busy with 2 large queries; try again in a few seconds/);
    const timedOut = await waiting.catch((error: unknown) => error);
    expect((timedOut as GraphQLError).extensions.code).toBe("SERVER_BUSY");
    release();
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it("refuses the waiting queries, and later ones, once closed", async () => {
    const gate = new HeavyQueryGate({ concurrency: 1, maxQueue: 5, maxWaitMs: 5_000 });
    const release = await gate.enter();
    const waiting = gate.enter().catch((error: unknown) => error as GraphQLError);
    gate.close();
    expect(((await waiting) as GraphQLError).message).toMatch(/stopping/);
    expect(((await gate.enter().catch((error: unknown) => error)) as GraphQLError).extensions.code).toBe("SERVER_BUSY");
    release();
  });
});

describe("query cost of recommendForText", () => {
  let fixture: ApiFixture;
  beforeAll(async () => {
    fixture = await createApiFixture();
  });
  afterAll(async () => {
    await fixture.close();
  });

  it("counts a forward pass per alias: 90 aliases of k = 500 are over the cost limit (they were not when each cost 1 + its list), 20 are not", async () => {
    const document = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `t${i}: recommendForText(modelId: "1", text: "sushi ramen", k: 500) { items { rank } }`).join(" ")} }`;
    const many = await fixture.server.execute({ query: document(90) });
    expect(many.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    expect(many.errors?.[0].message).toMatch(new RegExp(`above the limit of ${MAX_QUERY_COST}`));
    const few = await fixture.server.execute({ query: document(20) });
    // Model 1 does not exist here: the query was admitted and answered NOT_FOUND per alias.
    expect(few.errors?.[0].extensions?.code).toBe("NOT_FOUND");
  });
});
