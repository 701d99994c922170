import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openTextSpool } from "../../src/db/text-spool.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";

const savedTmp = process.env.TMPDIR;
afterEach(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
});

describe("the text spool of a PostgreSQL ingest", () => {
  it("gives back every line in order, in blocks of whole lines, across 1 MB reads that split characters", async () => {
    const spool = await openTextSpool();
    const expected: string[] = [];
    try {
      // ≈ 5 MB of lines with 2-, 3- and 4-byte characters, so reads of 1 MB end inside some of them.
      for (let batch = 0; batch < 50; batch++) {
        let lines = "";
        for (let k = 0; k < 400; k++) {
          const line = `${batch * 400 + k}\t5\tcafé ☕ naïve 🍰 ${"x".repeat((k * 37) % 400)}\t\\N\t${k}\n`;
          lines += line;
          expected.push(line);
        }
        await spool.append(lines);
      }
      const blocks: string[] = [];
      for await (const block of spool.blocks()) blocks.push(block);
      expect(Buffer.byteLength(expected.join(""))).toBeGreaterThan(4 << 20);
      expect(blocks.length).toBeGreaterThanOrEqual(4);
      for (const block of blocks) expect(block.endsWith("\n")).toBe(true);
      expect(blocks.join("")).toBe(expected.join(""));
      expect(fs.existsSync(spool.file)).toBe(true);
    } finally {
      await spool.close();
    }
    expect(fs.existsSync(path.dirname(spool.file))).toBe(false);
  });

  it("refuses a temporary folder that cannot take the texts with a sentence naming TMPDIR", async () => {
    process.env.TMPDIR = path.join(os.tmpdir(), "vcm-no-such-folder", "deeper");
    const refused = await openTextSpool().then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).code).toBe(ErrorCode.BAD_USER_INPUT);
    expect((refused as UserError).message).toMatch(/does not exist; point TMPDIR at a folder with room .* Nothing was changed\.$/);
  });
});
