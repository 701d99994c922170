/**
 * A pass over users split into shards: where it cuts its users (whole batches, as equal as they allow,
 * never an empty shard), how many shards it takes, and how an evaluation shard's numbers travel.
 */
import { describe, expect, it } from "vitest";
import { loadAppConfig } from "../../src/config.ts";
import { ErrorCode } from "../../src/errors.ts";
import { decodeUsersLines, encodeUsersLine, shardBounds, validateShards } from "../../src/services/sharded-pass.ts";

describe("shardBounds", () => {
  it("cuts whole batches as evenly as they allow, the short batch last", () => {
    expect(shardBounds({ users: 900, shards: 3, batch: 256 })).toEqual([0, 256, 512, 900]);
    expect(shardBounds({ users: 1024, shards: 2, batch: 256 })).toEqual([0, 512, 1024]);
    expect(shardBounds({ users: 100_000, shards: 4, batch: 256 })).toEqual([0, 24_832, 49_920, 75_008, 100_000]);
  });

  it("makes fewer shards than asked when there are fewer batches, and one shard of everything when asked for one", () => {
    expect(shardBounds({ users: 300, shards: 8, batch: 256 })).toEqual([0, 256, 300]);
    expect(shardBounds({ users: 10, shards: 5, batch: 256 })).toEqual([0, 10]);
    expect(shardBounds({ users: 900, shards: 1, batch: 256 })).toEqual([0, 900]);
  });
});

describe("shard counts", () => {
  it("takes 1 to 64, and names the flag or variable that gave another count", () => {
    expect(validateShards({ shards: 1 })).toBe(1);
    expect(validateShards({ shards: 64 })).toBe(64);
    expect(() => validateShards({ shards: 65 })).toThrow(expect.objectContaining({ code: ErrorCode.BAD_USER_INPUT, message: "--shards must be a whole number from 1 to 64, got 65." }));
    expect(() => validateShards({ shards: 0, name: "VCM_COHORT_SHARDS" })).toThrow("VCM_COHORT_SHARDS must be a whole number from 1 to 64, got 0.");
    expect(() => validateShards({ shards: 2.5 })).toThrow("--shards must be a whole number from 1 to 64, got 2.5.");
  });

  it("reads VCM_COHORT_SHARDS (default 1: a server's cohort evaluation in its own process)", () => {
    expect(loadAppConfig({}, {}).cohortShards).toBe(1);
    expect(loadAppConfig({}, { VCM_COHORT_SHARDS: " 8 " }).cohortShards).toBe(8);
    expect(loadAppConfig({ cohortShards: 3 }, { VCM_COHORT_SHARDS: "8" }).cohortShards).toBe(3);
    expect(() => loadAppConfig({}, { VCM_COHORT_SHARDS: "many" })).toThrow('VCM_COHORT_SHARDS must be a whole number of shards, at least 1, got "many"');
    expect(() => loadAppConfig({}, { VCM_COHORT_SHARDS: "0" })).toThrow('VCM_COHORT_SHARDS must be a whole number of shards, at least 1, got "0"');
  });
});

describe("evaluation shard lines", () => {
  it("carry a range of users' values bit for bit (NaN, −0, subnormals, −1 past a list's end) into the same positions", async () => {
    const source = {
      ndcg: { values: Float64Array.from([0.5, Number.NaN, -0, 5e-324, 1 / 3, 0.1 + 0.2]), width: 1 },
      top: { values: Int32Array.from([1, 2, 3, -1, 7, 8, 9, 10, -1, -1, 4, 5]), width: 2 },
    };
    const lines = [encodeUsersLine({ arrays: source, start: 4, end: 6 }), encodeUsersLine({ arrays: source, start: 1, end: 4 })];
    const target = { ndcg: { values: new Float64Array(6).fill(7), width: 1 }, top: { values: new Int32Array(12), width: 2 } };
    async function* runs(): AsyncGenerator<string> {
      yield `${lines[0]}\n`;
      yield `${lines[1]}\n`;
    }
    await decodeUsersLines({ runs: runs(), arrays: target });
    expect(Array.from(target.ndcg.values)).toEqual([7, Number.NaN, -0, 5e-324, 1 / 3, 0.1 + 0.2]);
    expect(Object.is(target.ndcg.values[2], -0)).toBe(true);
    expect(Array.from(target.top.values)).toEqual([0, 0, 3, -1, 7, 8, 9, 10, -1, -1, 4, 5]);
  });
});
