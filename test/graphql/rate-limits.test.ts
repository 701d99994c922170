/**
 * Rate limits without keys (issue 26, item 2): open reads count per client address with the
 * documented defaults, each address on its own, and in-process operations are nobody's traffic.
 */
import { describe, expect, it } from "vitest";
import type { AuthState } from "../../src/graphql/context.ts";
import { DEFAULT_COST_PER_MINUTE, DEFAULT_REQUESTS_PER_MINUTE } from "../../src/graphql/limits.ts";
import { RateLimitedError, RateLimits } from "../../src/graphql/rate-limits.ts";

const open = (subject: string): AuthState => ({ required: false, admin: true, presented: false, role: null, subject });

describe("rate limits per client address", () => {
  it("allow the default requests per minute to one address, refuse the next with Retry-After, and count another address apart", async () => {
    const limits = new RateLimits({ shared: undefined });
    for (let i = 0; i < DEFAULT_REQUESTS_PER_MINUTE; i += 1) await limits.takeRequest(open("address:10.0.0.1"));
    const refused = await limits.takeRequest(open("address:10.0.0.1")).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).code).toBe("RATE_LIMITED");
    expect((refused as RateLimitedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((refused as RateLimitedError).retryAfterSeconds).toBeLessThanOrEqual(60);
    await expect(limits.takeRequest(open("address:10.0.0.2"))).resolves.toBeUndefined();
  });

  it("refuse an address's cost over the default per minute, and never count in-process operations", async () => {
    const limits = new RateLimits({ shared: undefined });
    await limits.takeCost(open("address:10.0.0.3"), DEFAULT_COST_PER_MINUTE);
    await expect(limits.takeCost(open("address:10.0.0.3"), 1)).rejects.toThrow(`Over the limit of ${DEFAULT_COST_PER_MINUTE} estimated query cost per minute`);
    for (let i = 0; i < DEFAULT_REQUESTS_PER_MINUTE + 10; i += 1) await limits.takeRequest(open("local"));
    await expect(limits.takeCost(open("local"), DEFAULT_COST_PER_MINUTE * 2)).resolves.toBeUndefined();
  });
});
