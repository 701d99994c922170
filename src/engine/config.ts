/**
 * The training configuration: its types, defaults and the single function that checks a partial
 * configuration and fills in the rest, all derived from the field tables of config-fields.ts.
 */
import { assertNever, ErrorCode, UserError } from "../errors.ts";
import { boundsText, CONFIG_FIELDS, type ConfigFieldName, type ConfigOf, type FieldsOf } from "./config-fields.ts";
import { VARIANTS, type Variant } from "./types.ts";

export { BASELINE_OPTIMIZERS, type BaselineOptimizer } from "./config-fields.ts";

/** What the VCM variants read (VAEx, VAEy and the training loop). */
export type VcmModelConfig = { readonly variant: Variant } & ConfigOf<FieldsOf<"vcm">>;
/** What Collaborative Deep Learning reads (its SDAE, the factors and the training loop). */
export type CdlConfig = ConfigOf<FieldsOf<"cdl">>;
/** What the Collaborative VAE reads. */
export type CvaeConfig = ConfigOf<FieldsOf<"cvae">>;
/** What DeepCoNN reads. */
export type DeepconnConfig = ConfigOf<FieldsOf<"deepconn">>;
/** What every baseline reads (the factor size, the optimiser and the training loop). */
export type BaselineConfig = ConfigOf<FieldsOf<"cdl"> & FieldsOf<"cvae"> & FieldsOf<"deepconn">>;

/**
 * Everything that shapes a training run, as resolved and stored with every trained model and job: the
 * fields of every family, so that one stored shape serves every variant; each part of the engine takes
 * only its family's type above.
 */
export type VcmConfig = VcmModelConfig & CdlConfig & CvaeConfig & DeepconnConfig;

const FIELD_NAMES = Object.keys(CONFIG_FIELDS) as ConfigFieldName[];

/** The defaults of every field (the paper's settings), for the joint VCM. */
export const DEFAULT_VCM_CONFIG: VcmConfig = Object.freeze({
  variant: "vcm",
  ...Object.fromEntries(FIELD_NAMES.map((name) => [name, CONFIG_FIELDS[name].default])),
} as VcmConfig);

/** Defaults that differ by variant (CONFIG_FIELDS' variantDefaults), applied over DEFAULT_VCM_CONFIG before the given fields. */
export const VARIANT_DEFAULTS: Readonly<Partial<Record<Variant, Partial<VcmConfig>>>> = Object.freeze(
  Object.fromEntries(
    VARIANTS.map((variant) => [variant, Object.fromEntries(FIELD_NAMES.flatMap((name) => {
      const value = CONFIG_FIELDS[name].variantDefaults?.[variant];
      return value === undefined ? [] : [[name, value]];
    }))]).filter(([, fields]) => Object.keys(fields).length > 0),
  ),
);

/**
 * What a configuration stored before a field existed trained with, where that differs from the field's
 * default today (CONFIG_FIELDS' storedDefault; resolveStoredVcmConfig).
 */
export const STORED_CONFIG_DEFAULTS: Readonly<Partial<VcmConfig>> = Object.freeze(
  Object.fromEntries(FIELD_NAMES.flatMap((name) => (CONFIG_FIELDS[name].storedDefault === undefined ? [] : [[name, CONFIG_FIELDS[name].storedDefault]]))),
);

/** Rejects a field's value that training could not use, with a sentence naming the field and its range. */
function checkField(name: ConfigFieldName, v: unknown): void {
  const field = CONFIG_FIELDS[name];
  switch (field.kind) {
    case "boolean":
      if (typeof v !== "boolean") bad(`${name} must be true or false, got ${JSON.stringify(v)}`);
      return;
    case "enum":
      if (!(field.values ?? []).includes(v as string)) bad(`${name} must be ${boundsText(field)}, got ${JSON.stringify(v)}`);
      return;
    case "probability":
      if (typeof v !== "number" || !(v >= 0 && v < 1)) bad(`${name} must be a number ${boundsText(field)}, got ${JSON.stringify(v)}`);
      return;
    case "int":
    case "float": {
      if (v === null && field.default === null) return;
      const { min = 0, max = 0 } = field;
      const integer = field.kind === "int";
      const ok = typeof v === "number" && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v));
      if (!ok) bad(`${name} must be ${integer ? "an integer" : "a number"} from ${boundsText(field)}, got ${JSON.stringify(v)}`);
      return;
    }
    default:
      return assertNever(field.kind);
  }
}

/**
 * Fills a partial configuration with the defaults (the variant's own, VARIANT_DEFAULTS, over
 * DEFAULT_VCM_CONFIG) and rejects any value training could not use.
 */
export function resolveVcmConfig(partial: Partial<VcmConfig> | Readonly<Record<string, unknown>> = {}): VcmConfig {
  const known = new Set(Object.keys(DEFAULT_VCM_CONFIG));
  for (const key of Object.keys(partial)) {
    if (!known.has(key)) bad(`unknown configuration field "${key}"; known fields: ${[...known].join(", ")}`);
  }
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const variant = (defined.variant ?? DEFAULT_VCM_CONFIG.variant) as Variant;
  if (!VARIANTS.includes(variant)) {
    bad(`unknown variant "${String(variant)}"; choose one of ${VARIANTS.join(", ")}`);
  }
  const c = { ...DEFAULT_VCM_CONFIG, ...VARIANT_DEFAULTS[variant], ...defined } as Record<string, unknown>;
  for (const name of FIELD_NAMES) checkField(name, c[name]);
  for (const name of FIELD_NAMES) {
    const field = CONFIG_FIELDS[name];
    if (field.refusedUnread !== true || c[name] === field.default || (field.variants as ReadonlyArray<Variant>).includes(variant)) continue;
    bad(`${name} is read only by ${field.variants.join(", ")}, not by ${variant}; leave ${name} out for ${variant}`);
  }
  if (c.sampledSoftmax === null && c.sampledProposal !== CONFIG_FIELDS.sampledProposal.default) {
    bad("sampledProposal chooses where sampledSoftmax draws its negatives; set sampledSoftmax too, or leave sampledProposal out");
  }
  if ((c.confidenceUnobserved as number) > (c.confidenceObserved as number)) {
    bad("confidenceUnobserved (b) must not exceed confidenceObserved (a): an unobserved entry cannot be surer than a click");
  }
  return Object.freeze(c as unknown as VcmConfig);
}

/**
 * resolveVcmConfig for a configuration stored with a model or a job: a field it lacks because it was
 * written before the field existed takes what training did then (STORED_CONFIG_DEFAULTS), not today's
 * default, so an old checkpoint loads with its own weights and says how it was trained.
 */
export function resolveStoredVcmConfig(stored: Readonly<Record<string, unknown>>): VcmConfig {
  return resolveVcmConfig({ ...STORED_CONFIG_DEFAULTS, ...stored });
}

function bad(sentence: string): never {
  throw new UserError(ErrorCode.BAD_USER_INPUT, sentence);
}

/** The fields that fix a weight's shape (CONFIG_FIELDS' shapesWeights), which a warm start keeps. */
export const WEIGHT_SHAPE_FIELDS: ReadonlyArray<ConfigFieldName> = Object.freeze(FIELD_NAMES.filter((name) => CONFIG_FIELDS[name].shapesWeights === true));

/**
 * A warm start's learning rate, when not given, is the saved model's divided by this: a fresh Adam
 * takes its first steps at the full rate, which knocks a converged model off its optimum
 * (`npm run bench:warm-start`: at the model's own rate it never got back to a run from scratch; at a
 * third it got there in a fifth of the epochs).
 */
export const WARM_START_LEARNING_RATE_DIVISOR = 3;

/**
 * The configuration of a warm start from a model saved with `saved`: the requested fields over the saved
 * model's (not the defaults), its learning rate divided by WARM_START_LEARNING_RATE_DIVISOR unless one is
 * requested; BAD_USER_INPUT (warmStartConflict's sentence) when it cannot continue that model.
 */
export function resolveWarmStartConfig(o: { saved: VcmConfig; requested: Partial<VcmConfig> | Readonly<Record<string, unknown>>; model: string }): VcmConfig {
  const config = resolveVcmConfig({ ...o.saved, learningRate: o.saved.learningRate / WARM_START_LEARNING_RATE_DIVISOR, ...o.requested });
  const conflict = warmStartConflict({ saved: o.saved, requested: config, model: o.model });
  if (conflict !== undefined) bad(`${conflict[0].toUpperCase()}${conflict.slice(1)}.`);
  return config;
}

/**
 * Why a run configured as `requested` cannot continue from a model saved with `saved` (a warm start), as
 * a sentence naming the field; undefined when it can (same variant, same value of every field that
 * fixes a weight's shape, CONFIG_FIELDS' shapesWeights).
 */
export function warmStartConflict(o: { saved: VcmConfig; requested: VcmConfig; model: string }): string | undefined {
  const { saved, requested, model } = o;
  if (saved.variant !== requested.variant) {
    return `${model} is a ${saved.variant} model and a warm start continues the same variant; ask for variant ${saved.variant} or train a ${requested.variant} model from scratch`;
  }
  for (const name of WEIGHT_SHAPE_FIELDS) {
    if (saved[name] === requested[name]) continue;
    return `${name} is ${String(saved[name])} in ${model} but ${String(requested[name])} was asked; a warm start keeps the weights' shapes, so leave ${name} out or set it to ${String(saved[name])}`;
  }
  return undefined;
}
