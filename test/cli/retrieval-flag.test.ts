/** `vcm serve --retrieval`: an unknown mode is refused with the choices before anything opens. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runVcm } from "./run-vcm.ts";

describe("vcm serve --retrieval", () => {
  it("refuses an unknown mode with a sentence naming the modes, and opens no database", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-retrieval-flag-"));
    try {
      const db = path.join(dir, "vcm.sqlite");
      const run = runVcm(["serve", "--retrieval", "fast", "--db", db, "--port", "0"], { ...process.env, VCM_RETRIEVAL: "" });
      expect(run.code).not.toBe(0);
      expect(run.stderr + run.stdout).toContain('--retrieval must be one of exact, approximate, auto, got "fast".');
      expect(fs.existsSync(db)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
