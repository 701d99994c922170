import { describe, expect, it } from "vitest";
import { CorpusBuilder, type RawReview } from "../../src/data/corpus.ts";
import { generateSynthetic, resolveSyntheticOptions } from "../../src/data/generate.ts";
import { stopWordSet, tokenize } from "../../src/data/tokenizer.ts";

function run(seed: number): { reviews: RawReview[]; truth: ReturnType<typeof generateSynthetic> } {
  const reviews: RawReview[] = [];
  const truth = generateSynthetic({ users: 200, items: 300, vocab: 800, seed }, { interaction: () => undefined, review: (r) => reviews.push(r) });
  return { reviews, truth };
}

describe("generateSynthetic", () => {
  const { reviews, truth } = run(1);
  const clicks = reviews.filter((r) => (r.rating ?? 0) >= 4);

  it("is deterministic for a seed and differs across seeds", () => {
    expect(run(1).reviews).toEqual(reviews);
    expect(run(2).reviews).not.toEqual(reviews);
  });

  it("gives every user at least 5 clicks and every item at least 5 users, with a spread of activity", () => {
    const perUser = new Map<string, number>();
    const perItem = new Map<string, number>();
    for (const r of clicks) {
      perUser.set(r.user, (perUser.get(r.user) ?? 0) + 1);
      perItem.set(r.item ?? "", (perItem.get(r.item ?? "") ?? 0) + 1);
    }
    expect(perUser.size).toBe(200);
    expect(perItem.size).toBe(300);
    expect(Math.min(...perUser.values())).toBeGreaterThanOrEqual(5);
    expect(Math.min(...perItem.values())).toBeGreaterThanOrEqual(5);
    const counts = [...perUser.values()];
    expect(counts.filter((n) => n <= 10).length / counts.length).toBeGreaterThan(0.35);
    expect(counts.some((n) => n >= 50)).toBe(true);
  });

  it("plants topics: clicks fall mostly in the user's topics and texts use those topics' words", () => {
    const inTopic = clicks.filter((r) => truth.userTopics.get(r.user)?.includes(truth.itemTopic.get(r.item ?? "") ?? -1)).length;
    expect(inTopic / clicks.length).toBeGreaterThan(0.75);
    const topicOfWord = new Map<string, number>();
    truth.topics.forEach((topic, t) => topic.topWords.forEach((w) => topicOfWord.set(w, t)));
    const stopWords = stopWordSet();
    let userTopicWords = 0;
    let topicWords = 0;
    for (const r of reviews) {
      for (const word of tokenize(r.text, stopWords)) {
        const t = topicOfWord.get(word);
        if (t === undefined) continue;
        topicWords += 1;
        if (truth.userTopics.get(r.user)?.includes(t) || truth.itemTopic.get(r.item ?? "") === t) userTopicWords += 1;
      }
    }
    expect(userTopicWords / topicWords).toBeGreaterThan(0.9);
    expect(truth.topics[0]).toMatchObject({ name: "coffee", topWords: expect.arrayContaining(["coffee", "espresso"]) });
  });

  it("texts tokenise into the requested number of distinct words at most", () => {
    const corpus = new CorpusBuilder({ stopWords: stopWordSet() });
    generateSynthetic({ users: 200, items: 300, vocab: 800, seed: 1 }, corpus);
    const distinct = corpus.build().tokenNames.filter((w) => !stopWordSet().has(w)).length;
    expect(distinct).toBeLessThanOrEqual(800);
    expect(distinct).toBeGreaterThan(700);
  });

  it("rejects shapes that cannot hold the structure", () => {
    expect(() => resolveSyntheticOptions({ users: 5 })).toThrow(/--users must be an integer of at least 10/);
    expect(() => resolveSyntheticOptions({ users: 20, items: 500 })).toThrow(/at least --items \/ 5/);
  });
});
