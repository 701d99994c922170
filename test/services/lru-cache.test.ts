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
});
