/** An id field as a non-empty string (numbers are accepted and written in decimal), or null. */
export function idField(value: unknown): string | null {
  if (typeof value === "string") {
    const trimmed = value.trim();
    return trimmed === "" ? null : trimmed;
  }
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return null;
}

/** A rating: null when absent, a finite number, or undefined when present but not a number. */
export function ratingField(value: unknown): number | null | undefined {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string") {
    const trimmed = value.trim();
    const parsed = Number(trimmed);
    return trimmed !== "" && Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

export function textField(value: unknown): string {
  return typeof value === "string" ? value : "";
}
