/**
 * The PostgreSQL listener's reconnects against a real socket that misbehaves as a database going away
 * does (issue 23, item 1): one attempt in the air, each loss counted and followed by one attempt after
 * a growing pause, and close() at once even while a connect hangs. test/graphql/postgres-restart.test.ts
 * does the same against a real PostgreSQL server under two real servers.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LISTEN_RECONNECT, watchCommits, type CommitWatch } from "../../src/db/commit-watch.ts";
import { createDataSource } from "../../src/db/data-source.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP server on a free loopback port that resets every connection or, with `hang`, neither answers
 * nor closes one (a peer gone silent: even the client's goodbye goes unanswered).
 */
async function fakeDatabase(options: { hang: boolean }): Promise<{ url: string; accepted: () => number; mostOpen: () => number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let mostOpen = 0;
  const server = net.createServer({ allowHalfOpen: options.hang }, (socket) => {
    accepted += 1;
    sockets.add(socket);
    mostOpen = Math.max(mostOpen, sockets.size);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    // Read (and drop) what the client sends, so that its end of the connection is seen.
    socket.resume();
    if (!options.hang) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `postgres://vcm@127.0.0.1:${port}/vcm`,
    accepted: () => accepted,
    mostOpen: () => mostOpen,
    open: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("the PostgreSQL commit watch's reconnects", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function watch(url: string): CommitWatch {
    const commits = watchCommits(createDataSource(url));
    cleanups.push(() => commits.close());
    return commits;
  }

  it("makes one attempt at a time after each loss, backing off from 100 ms, and counts no change for refused attempts", async () => {
    const database = await fakeDatabase({ hang: false });
    cleanups.push(() => database.close());
    const commits = watch(database.url);
    await sleep(3_500);
    await commits.close();
    // Pauses of at least 50, 100, 200, 400, 800 and 1,600 ms (half of 100 ms doubled, at the least):
    // at most 7 attempts in 3.5 s, never two connections at once. The old code doubled them per loss.
    expect(LISTEN_RECONNECT).toEqual({ firstMs: 100, maxMs: 5_000, connectTimeoutMs: 5_000 });
    expect(database.accepted()).toBeGreaterThanOrEqual(4);
    expect(database.accepted()).toBeLessThanOrEqual(7);
    expect(database.mostOpen()).toBe(1);
    // Nothing was ever heard, so nothing was missed: a refused attempt is no change (the old code counted each loss up to three times).
    expect(commits.version()).toBe(0);
  });

  it("closes within seconds while a connect hangs unanswered, and attempts nothing after", async () => {
    const database = await fakeDatabase({ hang: true });
    cleanups.push(() => database.close());
    const commits = watch(database.url);
    for (let i = 0; i < 100 && database.open() === 0; i += 1) await sleep(20);
    expect(database.open()).toBe(1);
    const started = performance.now();
    await commits.close();
    // The goodbye is given a second, then the socket is destroyed (the old code waited for ever).
    expect(performance.now() - started).toBeLessThan(3_000);
    // Nothing is attempted after close().
    await sleep(500);
    expect(database.accepted()).toBe(1);
  }, 10_000);
});
