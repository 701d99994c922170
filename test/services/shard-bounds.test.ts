/** Where a sharded pass cuts its users: whole batches, as equal as they allow, never an empty shard. */
import { describe, expect, it } from "vitest";
import { shardBounds } from "../../src/services/sharded-pass.ts";

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
