import { describe, expect, it } from "vitest";
import { LruCache, RecentAnswers } from "../../src/services/lru-cache.ts";

describe("LruCache", () => {
  it("loads a key once, shares concurrent loads and evicts the least recently used", async () => {
    const loads: number[] = [];
    const evicted: string[] = [];
    const cache = new LruCache<number, string>({
      capacity: 2,
      load: async (key) => {
        loads.push(key);
        return `v${key}`;
      },
      onEvict: (value) => evicted.push(value),
    });
    const [a, b] = await Promise.all([cache.get(1), cache.get(1)]);
    expect([a, b]).toEqual(["v1", "v1"]);
    expect(loads).toEqual([1]);
    await cache.get(2);
    await cache.get(1); // 1 is now the most recent, so 2 goes first
    await cache.get(3);
    await Promise.resolve();
    expect(evicted).toEqual(["v2"]);
    expect(cache.has(1) && cache.has(3) && !cache.has(2)).toBe(true);
    await cache.get(2);
    expect(loads).toEqual([1, 2, 3, 2]);
  });

  it("does not keep a failed load", async () => {
    let attempts = 0;
    const cache = new LruCache<number, number>({
      capacity: 1,
      load: async (key) => {
        attempts += 1;
        if (attempts === 1) throw new Error("disk hiccup");
        return key;
      },
    });
    await expect(cache.get(7)).rejects.toThrow("disk hiccup");
    expect(cache.has(7)).toBe(false);
    await expect(cache.get(7)).resolves.toBe(7);
  });

  it("replaces a held value with set (a newer version) without releasing the old one, and peeks without loading", async () => {
    const released: string[] = [];
    const cache = new LruCache<number, string>({ capacity: 2, load: async (key) => `v1-${key}`, onEvict: (value) => released.push(value) });
    await cache.get(1);
    expect(cache.peek(2)).toBeUndefined();
    expect(cache.has(2)).toBe(false);
    cache.set(1, Promise.resolve("v2-1"));
    await expect(cache.get(1)).resolves.toBe("v2-1");
    const failed = Promise.reject(new Error("gone"));
    cache.set(2, failed);
    await expect(failed).rejects.toThrow("gone");
    expect(await cache.values()).toEqual(["v2-1"]);
    expect(released).toEqual([]);
  });

  it("rejects a capacity that is not a positive integer", () => {
    expect(() => new LruCache({ capacity: 0, load: async () => 1 })).toThrow("positive integer");
  });
});

describe("RecentAnswers", () => {
  it("keeps the last `capacity` answers, a read counting as a use", () => {
    const recent = new RecentAnswers<string>(2);
    recent.set("a", "A");
    recent.set("b", "B");
    expect(recent.get("a")).toBe("A"); // a is now the most recent, so b goes first
    recent.set("c", "C");
    expect(recent.get("b")).toBeUndefined();
    expect([recent.get("a"), recent.get("c")]).toEqual(["A", "C"]);
    // Setting a held key again replaces its answer without evicting another.
    recent.set("a", "A2");
    expect([recent.get("a"), recent.get("c")]).toEqual(["A2", "C"]);
  });

  it("drops exactly the answers whose keys match", () => {
    const recent = new RecentAnswers<string>(10);
    for (const key of ["3|1", "3|1|7", "30|1", "4|2"]) recent.set(key, key);
    recent.deleteWhere((key) => key.slice(0, key.indexOf("|")) === "3");
    expect(["3|1", "3|1|7", "30|1", "4|2"].map((key) => recent.get(key))).toEqual([undefined, undefined, "30|1", "4|2"]);
  });
});
