/** Why a malformed input record was skipped (the keys of the summary's `skipped`). */
export type SkipReason =
  | "brokenJson"
  | "notAnObject"
  | "missingUserId"
  | "missingItemId"
  | "ratingNotANumber"
  | "invalidUtf8"
  | "tooFewFields";

/** How many line numbers of each reason the summary lists. */
const FIRST_LINES_KEPT = 5;

/** Counts skipped records per reason and remembers the first few line numbers of each. */
export class SkipCounter {
  private readonly byReason = new Map<string, { count: number; lines: number[] }>();

  add(reason: SkipReason, line: number): void {
    this.addKey(reason, line);
  }

  /** A skip in a tsv texts file: counted as `texts.<reason>` so line numbers name the right file. */
  addTexts(reason: SkipReason, line: number): void {
    this.addKey(`texts.${reason}`, line);
  }

  private addKey(reason: string, line: number): void {
    let entry = this.byReason.get(reason);
    if (entry === undefined) {
      entry = { count: 0, lines: [] };
      this.byReason.set(reason, entry);
    }
    entry.count += 1;
    if (entry.lines.length < FIRST_LINES_KEPT) entry.lines.push(line);
  }

  get total(): number {
    let total = 0;
    for (const entry of this.byReason.values()) total += entry.count;
    return total;
  }

  /** Count per reason, e.g. `{ brokenJson: 2 }`. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.byReason].map(([reason, entry]) => [reason, entry.count]));
  }

  /** First line numbers per reason, e.g. `{ brokenJson: [3, 17] }`. */
  firstLines(): Record<string, number[]> {
    return Object.fromEntries([...this.byReason].map(([reason, entry]) => [reason, [...entry.lines]]));
  }

  /** One sentence per reason, for error messages and text summaries. */
  describe(): string {
    return [...this.byReason]
      .map(([reason, entry]) => `${reason}: ${entry.count} (first at line ${entry.lines.join(", ")})`)
      .join("; ");
  }
}
