import { describe, expect, it } from "vitest";
import { itemWordMatrixFromTexts } from "../../src/data/item-words.ts";

const vocabulary = ["pizza", "crust", "sushi", "fish", "service"];

describe("itemWordMatrixFromTexts", () => {
  it("counts only vocabulary words per item", () => {
    const matrix = itemWordMatrixFromTexts({
      reviews: [
        { item: 1, text: "Sushi, sushi and fish!" },
        { item: 0, text: "pizza crust" },
        { item: 1, text: "great service" },
      ],
      numItems: 2,
      vocabulary,
      tokenize: (text) => text.toLowerCase().match(/\p{L}+/gu) ?? [],
    });
    expect(Array.from(matrix.indptr)).toEqual([0, 2, 5]);
    expect(Array.from(matrix.indices)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(matrix.values)).toEqual([1, 1, 2, 1, 1]);
  });
});
