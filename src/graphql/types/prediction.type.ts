import { Field, Float, Int, ObjectType, registerEnumType } from "type-graphql";
import { CLICK_COVERAGE } from "../../engine/explanation-rules.ts";
import type { WhatIfReading } from "../../services/served-model.ts";

/** Which of the user's data drives a ranking. */
export enum RecommendationSourceEnum {
  CLICKS = "CLICKS",
  REVIEWS = "REVIEWS",
}
registerEnumType(RecommendationSourceEnum, {
  name: "RecommendationSource",
  description:
    "CLICKS: VCM, items ranked from the user's training clicks (z = μx(x_u)). REVIEWS: VCM-CD (review2click), items ranked from the bag of words of the user's reviews alone (r = μy(y_u)); needs a model with a word model (not popularity).",
});

/** How an explanation chooses and weighs its words (engine/explanation-rules.ts ExplanationRule). */
export enum ExplanationRuleEnum {
  EFFECT = "effect",
  EVIDENCE = "evidence",
  LIFT = "lift",
}
registerEnumType(ExplanationRuleEnum, {
  name: "ExplanationRule",
  description:
    "EFFECT (default): words of the user's own text that the model says hold up this recommendation. Candidates are the words w of the user's bag of words y_u (the text VCM-CD ranks from) whose lift(w, i) > 1. Each gets its first-order effect e(w) = y_w · ∂ log π_ui(y_u) / ∂ y_w on the item's review2click (VCM-CD) score π_ui; the 2k candidates with the largest p(w|u) · e(w) among those with e(w) > 0 are checked exactly: effect δ(w) = 1 − π_ui(y_u without w) / π_ui(y_u), the relative fall of the item's score when w alone leaves the bag. Listed: the shortlisted words with δ(w) > 0, ranked by p(w|u) · δ(w); weight = p(w|u) · δ(w) over the sum of that score across the shortlisted words with δ > 0. A word whose removal would raise the item's score is never listed, so fewer than k words (or none) may come back; lift only filters, so an item-specific word the user barely holds cannot win on lift. A user without a bag of words falls back to EVIDENCE, an item without review text to LIFT. EVIDENCE: among the words the item's reviews use more than the corpus does (lift > 1), those with the largest click2review p(w|u); weight = p(w|u) over the sum of p(v|u) across all such words. An item without review text falls back to LIFT. LIFT: the first version's rule, p(w|u) · lift over the whole vocabulary, weight = its share of the sum over all words.",
  valuesConfig: {
    EFFECT: { description: "Words of the user's bag with lift > 1 whose removal lowers the item's review2click score, ranked by p(w|u) · δ(w)." },
    EVIDENCE: { description: "The words with lift > 1, ranked by p(w|u)." },
    LIFT: { description: "p(w|u) · lift over the whole vocabulary." },
  },
});

/** Value behind a Recommendation or RankedItem: positions in the dataset's matrices, resolved lazily. */
export interface RankedItemValue {
  readonly modelId: number;
  readonly datasetId: number;
  /** Column of the item in the dataset. */
  readonly item: number;
  readonly score: number;
  readonly rank: number;
  /** Row of the user the ranking is for (absent for text rankings). */
  readonly row?: number;
  /** The history a recommendFor ranking is for (row 0 of its one-row index). */
  readonly whatIf?: WhatIfReading;
}

/** An item with its place in a ranking. */
@ObjectType("RankedItem", { description: "An item, its score under the model and its place in the ranking." })
export class RankedItemType {
  @Field(() => Float, { description: "The model's probability π_ui of the item (softmax over all items, so scores of one ranking sum to at most 1). Where the server ranks through an approximate index (large catalogues, vcm serve --retrieval), the softmax over the index's candidates: an upper bound of π_ui." })
  score: number;

  @Field(() => Int, { description: "1-based position in the ranking." })
  rank: number;
}

/** A recommended item for a user (the `explanation` field is resolved on demand). */
@ObjectType("Recommendation", { description: "An item recommended to a user, with its score, rank and, on request, the words that tie them." })
export class RecommendationType {
  @Field(() => Float, { description: "The model's probability π_ui of the item (softmax over all items)." })
  score: number;

  @Field(() => Int, { description: "1-based position in the ranking." })
  rank: number;
}

/** One word of an explanation. */
@ObjectType("ExplanationWord", { description: "A word that ties a user to an item, with its share of the tie." })
export class ExplanationWordType {
  @Field(() => String)
  word: string;

  @Field(() => Float, {
    description:
      "This word's share of the rule's total (ExplanationRule): EFFECT, p(w|u) · δ(w) over the sum across the checked words with δ > 0; EVIDENCE, p(w|u) over the sum across the words with lift > 1; LIFT, tie(w) / Σ_v tie(v) over the entire vocabulary with tie(w) = p(w|u) · lift(w, i). Over every candidate word of the rule the weights sum to 1, so the weights listed are the fraction of the evidence these words carry.",
  })
  weight: number;

  @Field(() => Float, { description: "p(w|u): the user's click2review probability of the word (VAEy's decoder applied to μx(x_u))." })
  userProbability: number;

  @Field(() => Float, {
    description:
      "lift(w, i) = P(w|i) / P(w): how much more often the item's reviews use the word than the whole corpus, with P(w|i) = (c_iw + μ·P(w)) / (n_i + μ) (Dirichlet-smoothed, μ = 50 tokens) and P(w) the add-one smoothed corpus frequency, both over the texts of all reviews in the dataset (every user, every split). Above 1: characteristic of the item.",
  })
  lift: number;

  @Field(() => Float, {
    nullable: true,
    description:
      "Under EFFECT: δ(w) = 1 − π_ui(y_u without w) / π_ui(y_u), the relative fall (0–1, always > 0 here) of the item's review2click (VCM-CD) score when this word alone leaves the user's bag of words. Null under EVIDENCE and LIFT.",
  })
  effect: number | null;
}

/** Value behind an ExplanationClick: the clicked item's position in the dataset, resolved lazily. */
export interface ExplanationClickValue {
  readonly datasetId: number;
  /** Column of the clicked item in the dataset. */
  readonly item: number;
  readonly effect: number;
}

/** One clicked item of an explanation. */
@ObjectType("ExplanationClick", { description: "An item of the user's training history that holds up the recommendation, with how much." })
export class ExplanationClickType {
  @Field(() => Float, {
    description:
      "δ(j) = 1 − π_ui(x_u without j) / π_ui(x_u): the relative fall (0–1, always > 0 here) of the recommended item's VCM score (from clicks) when this click alone leaves the user's training history x_u, computed by a forward pass of the model on that history.",
  })
  effect: number;
}

/** The kind of reason a user's clicks give for an item (engine/explanation-rules.ts ClickReasonKind). */
export enum ClickReasonKindEnum {
  CLICKS = "clicks",
  HISTORY = "history",
  POPULARITY = "popularity",
}
registerEnumType(ClickReasonKindEnum, {
  name: "ClickReasonKind",
  description:
    "What the user's training clicks do for a recommended item, decided by the model's VCM scores: CLICKS when some click alone holds the score up (Explanation.clicks lists them); else HISTORY when the whole history does (the item scores lower for a user with no clicks: historyEffect > 0); else POPULARITY (the item scores at least as high for a user with no clicks: it stands on what the model gives every user, its ranking for an empty history, which follows the items' training clicks).",
  valuesConfig: {
    CLICKS: { description: "At least one click lowers the item's score when it alone leaves the history (listed in Explanation.clicks)." },
    HISTORY: { description: "No click alone lowers the item's score, but removing the whole history does (historyEffect > 0): the clicks hold it up together." },
    POPULARITY: { description: "The item scores at least as high for a user with no clicks (historyEffect ≤ 0): the user's clicks do not carry it; it stands on the model's ranking for an empty history (which follows the items' training clicks), and priorRank says where it stands there." },
  },
});

/** What the user's whole history does for a recommended item. */
@ObjectType("ClickReason", { description: "The kind of reason the user's training clicks give for an item, with the numbers that decided it." })
export class ClickReasonType {
  @Field(() => ClickReasonKindEnum)
  kind: ClickReasonKindEnum;

  @Field(() => Float, {
    description:
      "Δ = 1 − π_i(∅) / π_ui(x_u): the relative fall of the item's VCM score when the user's whole training history leaves (π_i(∅): its score for a user with no clicks, one forward pass of the model shared by every user). At most 1; ≤ 0 when the item scores at least as high without the history.",
  })
  historyEffect: number;

  @Field(() => Int, { description: "The item's 1-based place among all the model's items for a user with no clicks (the model's prior ranking)." })
  priorRank: number;
}

/** The words and clicks that tie a user to an item. */
@ObjectType("Explanation", {
  description:
    "Why an item suits a user, in words chosen by an ExplanationRule (default EFFECT: words of the user's own text that the item's reviews over-use and whose removal lowers the item's review2click score) and in clicks (the items of the user's training history whose removal lowers the item's VCM score the most). Each word's weight is its share of the rule's total, and coveredShare says how much of it the listed words carry.",
})
export class ExplanationType {
  @Field(() => [ExplanationWordType], { description: "The k words with the largest weights, largest first." })
  words: ExplanationWordType[];

  @Field(() => [ExplanationClickType], {
    description:
      `At most k clicked items (training history) whose removal alone lowers the item's VCM score the most, largest effect first; the same under every rule. Listed: the fewest clicks, largest effect first, whose effects add up to at least ${CLICK_COVERAGE} of the sum of the effects of all clicks whose removal lowers the score (the clicks the score mainly rests on), so fewer than k (or none) may come back; every click of the history is checked exactly, one forward pass per click shared by all items explained for the user, and only when this field or clickReason is selected.`,
  })
  clicks: ExplanationClickValue[];

  @Field(() => ClickReasonType, {
    nullable: true,
    description:
      "The kind of reason the clicks give (ClickReasonKind), also when no single click is listed: the whole history holding the score up (HISTORY) or the item's standing for any user (POPULARITY). Computed with the clicks; null for a user without training clicks (a what-if history of text alone).",
  })
  clickReason: ClickReasonType | null;

  @Field(() => Float, { description: "Sum of the listed words' weights: the fraction (0–1) of the rule's total that they carry." })
  coveredShare: number;

  @Field(() => Float, {
    description:
      "Σ_w p(w|u) · lift(w, i): the expected lift of the user's words in the item's reviews. Above 1, the item's reviews use this user's words more than the corpus does; comparable across items for one user.",
  })
  affinity: number;

  @Field(() => Int, {
    description: "Vocabulary tokens in the item's reviews. With 0 the item has no review text, every lift is 1 and the weights are the user's own p(w|u).",
  })
  itemReviewTokens: number;

  @Field(() => ExplanationRuleEnum, {
    description: "The rule that chose the words: the one asked for, or the one it fell back to (EFFECT → EVIDENCE for a user without a bag of words; EFFECT or EVIDENCE → LIFT for an item without review text).",
  })
  rule: ExplanationRuleEnum;
}

/** One word of a user's click2review distribution. */
@ObjectType("WordProbability", { description: "A word and its probability under the user's click2review distribution p(w|u)." })
export class WordProbabilityType {
  @Field(() => String)
  word: string;

  @Field(() => Float, { description: "p(w|u); over the whole vocabulary these sum to 1." })
  probability: number;
}

/** Cold-start recommendations for a text. */
@ObjectType("TextRecommendations", { description: "Items recommended from a text alone (VCM-CD, review2click), and how the text was read." })
export class TextRecommendationsType {
  @Field(() => [String], { description: "Distinct words of the text that the dataset's vocabulary knows (the only ones the model sees), in vocabulary order." })
  knownWords: string[];

  @Field(() => Int, { description: "Tokens of the text (after stop-word removal) that are not in the vocabulary and were ignored." })
  unknownTokenCount: number;
}

/** Recommendations for a history that is not stored (recommendFor). */
@ObjectType("HistoryRecommendations", {
  description:
    "What a model says for a history given in the query (recommendFor): its ranking with explanations, its click2review words and capacity, and what of the history the model knows.",
})
export class HistoryRecommendationsType {
  @Field(() => RecommendationSourceEnum, { description: "What drove the ranking: CLICKS when any clicked item is known to the model (VCM), else REVIEWS (VCM-CD from the text alone)." })
  source: RecommendationSourceEnum;

  @Field(() => [String], {
    description:
      "Clicked item ids the model does not know and ignored: not in its dataset, or appended after the model was trained (a model cannot read or recommend items added since its training).",
  })
  unknownItemIds: string[];

  @Field(() => Int, { description: "Distinct clicked items the model knows (the history it read)." })
  knownItemCount: number;

  @Field(() => [String], { description: "Distinct words of the text that the dataset's vocabulary knows (the user's bag of words y_u), in vocabulary order." })
  knownWords: string[];

  @Field(() => Int, { description: "Tokens of the text (after stop-word removal) that are not in the vocabulary and were ignored." })
  unknownTokenCount: number;
}

/** Where a word falls in one user's click2review distribution (services/highlights.ts). */
export enum HighlightLevelEnum {
  HIGH = "HIGH",
  MEDIUM = "MEDIUM",
  LOW = "LOW",
}
registerEnumType(HighlightLevelEnum, {
  name: "HighlightLevel",
  description: "By the quantiles of the user's own p_u(w) over the whole vocabulary: HIGH, the user's top 1 % of words; MEDIUM, the top 10 %; LOW, the rest.",
});

/** A word's probability for the user under one model, and its level. */
@ObjectType("WordMark", { description: "The user's click2review probability p_u(w) of a word under one model, and its level." })
export class WordMarkType {
  @Field(() => Float)
  probability: number;

  @Field(() => HighlightLevelEnum)
  level: HighlightLevelEnum;
}

/** One token of a highlighted review. */
@ObjectType("HighlightToken", {
  description:
    "A token of the review's text as the tokenizer reads it (runs of letters and digits), at [start, end) of the original text in UTF-16 code units (JavaScript string indices), so a client can colour the text in place.",
})
export class HighlightTokenType {
  @Field(() => String, { description: "The token as it stands in the text." })
  text: string;

  @Field(() => Int)
  start: number;

  @Field(() => Int)
  end: number;

  @Field(() => String, { nullable: true, description: "The vocabulary word (lowercase); null for a stop word, a one-character token or a word the model does not know." })
  word: string | null;

  @Field(() => WordMarkType, { nullable: true, description: "p_u(w) and level under modelId; null where word is null." })
  mark: WordMarkType | null;

  @Field(() => WordMarkType, { nullable: true, description: "The same under compareTo (e.g. VCM-Se beside VCM, as in the paper's Figure 5); null without compareTo or where word is null." })
  compared: WordMarkType | null;
}
