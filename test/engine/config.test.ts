/** resolveVcmConfig fills in the paper's defaults and rejects values training cannot use, with a sentence. */
import { describe, expect, expectTypeOf, it } from "vitest";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { DEFAULT_VCM_CONFIG, resolveStoredVcmConfig, resolveVcmConfig, type CdlConfig, type CvaeConfig, type DeepconnConfig, type VcmConfig, type VcmModelConfig } from "../../src/engine/config.ts";
import { CONFIG_FIELDS, type ConfigField } from "../../src/engine/config-fields.ts";
import type { trainModel } from "../../src/engine/models/index.ts";
import type { trainAndSaveResolved } from "../../src/services/training.ts";

describe("resolveVcmConfig", () => {
  it("accepts the bounds themselves", () => {
    expect(resolveVcmConfig({ hiddenX: 10_000, latentDim: 1_000, epochs: 1, patience: 10_000, seed: -2_147_483_648 })).toMatchObject({ hiddenX: 10_000, latentDim: 1_000 });
  });

  it("gives the paper's settings by default and keeps what is given", () => {
    expect(resolveVcmConfig({})).toEqual(DEFAULT_VCM_CONFIG);
    expect(DEFAULT_VCM_CONFIG).toMatchObject({ latentDim: 100, hiddenX: 600, hiddenY: 500, dropout: 0.5, beta: 0.4, annealSteps: 40_000, epochs: 200, batchSize: 128 });
    expect(resolveVcmConfig({ variant: "vcm-se", latentDim: 8, patience: 3 })).toMatchObject({ variant: "vcm-se", latentDim: 8, patience: 3, hiddenX: 600 });
  });

  it.each([
    [{ latentDim: 0 }, "latentDim must be an integer from 1 to 1,000, got 0"],
    [{ latentDim: 2.5 }, "latentDim must be an integer from 1 to 1,000, got 2.5"],
    [{ batchSize: -1 }, "batchSize must be an integer from 1 to 100,000"],
    [{ epochs: 0 }, "epochs must be an integer from 1 to 10,000"],
    [{ variant: "vcm-xx" }, 'unknown variant "vcm-xx"'],
    [{ dropout: 1 }, "dropout must be a number from 0"],
    [{ beta: -0.1 }, "beta must be a number from 0 to 100"],
    [{ learningRate: 0 }, "learningRate must be a number from above 0, at most 10"],
    [{ patience: 0 }, "patience must be an integer from 1 to 10,000"],
    [{ seed: 0.5 }, "seed must be an integer from -2,147,483,648 to 2,147,483,647"],
    // Upper bounds: a typo is refused before any work starts.
    [{ hiddenX: 2_000_000_000 }, "hiddenX must be an integer from 1 to 10,000, got 2000000000"],
    [{ hiddenY: 10_001 }, "hiddenY must be an integer from 1 to 10,000"],
    [{ latentDim: 1_001 }, "latentDim must be an integer from 1 to 1,000"],
    [{ epochs: 1e9 }, "epochs must be an integer from 1 to 10,000"],
    [{ annealSteps: 1e12 }, "annealSteps must be an integer from 1 to 100,000,000"],
    [{ learningRate: Number.POSITIVE_INFINITY }, "learningRate must be a number"],
    [{ beta: Number.NaN }, "beta must be a number from 0 to 100"],
    [{ latentSize: 10 }, 'unknown configuration field "latentSize"'],
  ])("rejects %j with a sentence", (partial, sentence) => {
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

describe("the field tables", () => {
  const numeric = Object.entries(CONFIG_FIELDS).filter(([, f]) => f.kind === "int" || f.kind === "float") as Array<[string, ConfigField]>;

  it("give every default of DEFAULT_VCM_CONFIG, and the variant's own over it", () => {
    for (const [name, field] of Object.entries(CONFIG_FIELDS)) expect(DEFAULT_VCM_CONFIG[name as keyof typeof DEFAULT_VCM_CONFIG]).toBe(field.default);
    expect(resolveVcmConfig({ variant: "deepconn" })).toMatchObject({ learningRate: 0.002, baselineOptimizer: "rmsprop" });
    expect(resolveVcmConfig({ variant: "cdl" })).toMatchObject({ learningRate: 0.001, baselineOptimizer: "adam" });
    expect(resolveStoredVcmConfig({ variant: "cdl" })).toMatchObject({ tiedWeights: false, baselineOptimizer: "adam", deepconnDropout: 0 });
  });

  it.each(numeric)("bound %s by its row: min and max accepted, beyond refused", (name, field) => {
    const { min = 0, max = 0 } = field;
    // confidenceUnobserved may not exceed confidenceObserved, so its maximum is tried with an equal a.
    const withPartner = (v: number): Record<string, unknown> => (name === "confidenceUnobserved" ? { confidenceObserved: v, [name]: v } : { [name]: v });
    expect(resolveVcmConfig(withPartner(max))).toMatchObject({ [name]: max });
    if (min !== Number.MIN_VALUE) expect(resolveVcmConfig({ [name]: min })).toMatchObject({ [name]: min });
    expect(() => resolveVcmConfig({ [name]: max + 1 })).toThrow(`${name} must be`);
    expect(() => resolveVcmConfig({ [name]: min === Number.MIN_VALUE ? 0 : min - 1 })).toThrow(`${name} must be`);
    if (field.kind === "int") expect(() => resolveVcmConfig({ [name]: min + 0.5 })).toThrow(`${name} must be an integer`);
  });
});

describe("the families' configuration types", () => {
  it("give VCM and each baseline only the fields its row says it reads (checked by tsc)", () => {
    expectTypeOf<VcmModelConfig>().toHaveProperty("latentDim").toEqualTypeOf<number>();
    expectTypeOf<VcmModelConfig>().toHaveProperty("patience").toEqualTypeOf<number | null>();
    expectTypeOf<VcmModelConfig>().not.toHaveProperty("baselineLatentDim");
    expectTypeOf<CdlConfig>().toHaveProperty("sdaeHidden");
    expectTypeOf<CdlConfig>().toHaveProperty("tiedWeights").toEqualTypeOf<boolean>();
    expectTypeOf<CdlConfig>().not.toHaveProperty("cvaeHiddenOuter");
    expectTypeOf<CdlConfig>().not.toHaveProperty("latentDim");
    expectTypeOf<CvaeConfig>().toHaveProperty("cvaeTextWeight");
    expectTypeOf<CvaeConfig>().not.toHaveProperty("deepconnTokens");
    expectTypeOf<DeepconnConfig>().toHaveProperty("baselineOptimizer").toEqualTypeOf<"adam" | "rmsprop">();
    expectTypeOf<DeepconnConfig>().not.toHaveProperty("tiedWeights");
    expectTypeOf<VcmConfig>().toMatchTypeOf<VcmModelConfig & CdlConfig & CvaeConfig & DeepconnConfig>();
    // Resolved once at the edge: what the engine and a job's worker take is the resolved type, not a partial one.
    expectTypeOf<Parameters<typeof trainModel>[0]["config"]>().toEqualTypeOf<VcmConfig>();
    expectTypeOf<Parameters<typeof trainAndSaveResolved>[0]["config"]>().toEqualTypeOf<VcmConfig>();
    // The stored configuration holds every family's fields, so one shape serves every variant.
    expect(Object.keys(resolveVcmConfig({ variant: "cdl" })).sort()).toEqual(["variant", ...Object.keys(CONFIG_FIELDS)].sort());
  });
});
