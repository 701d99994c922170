/** resolveVcmConfig fills in the paper's defaults and rejects values training cannot use, with a sentence. */
import { describe, expect, it } from "vitest";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { DEFAULT_VCM_CONFIG, resolveVcmConfig } from "../../src/engine/config.ts";

describe("resolveVcmConfig", () => {
  it("gives the paper's settings by default and keeps what is given", () => {
    expect(resolveVcmConfig({})).toEqual(DEFAULT_VCM_CONFIG);
    expect(DEFAULT_VCM_CONFIG).toMatchObject({ latentDim: 100, hiddenX: 600, hiddenY: 500, dropout: 0.5, beta: 0.4, annealSteps: 40_000, epochs: 200, batchSize: 128 });
    expect(resolveVcmConfig({ variant: "vcm-se", latentDim: 8, patience: 3 })).toMatchObject({ variant: "vcm-se", latentDim: 8, patience: 3, hiddenX: 600 });
  });

  it.each([
    [{ latentDim: 0 }, "latentDim must be a positive integer"],
    [{ latentDim: 2.5 }, "latentDim must be a positive integer"],
    [{ batchSize: -1 }, "batchSize must be a positive integer"],
    [{ epochs: 0 }, "epochs must be a positive integer"],
    [{ variant: "vcm-xx" }, 'unknown variant "vcm-xx"'],
    [{ dropout: 1 }, "dropout must be a number from 0"],
    [{ beta: -0.1 }, "beta must be a finite number ≥ 0"],
    [{ learningRate: 0 }, "learningRate must be a finite number > 0"],
    [{ patience: 0 }, "patience must be a positive integer"],
    [{ seed: 0.5 }, "seed must be an integer"],
    [{ latentSize: 10 }, 'unknown configuration field "latentSize"'],
  ])("rejects %j", (partial, sentence) => {
    try {
      resolveVcmConfig(partial as Record<string, unknown>);
      expect.unreachable("the configuration should have been rejected");
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).code).toBe(ErrorCode.BAD_USER_INPUT);
      expect((error as UserError).message).toContain(sentence);
    }
  });
});
