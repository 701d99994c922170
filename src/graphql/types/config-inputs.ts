/**
 * startTraining's hyper-parameter inputs, built at start from the engine's field tables
 * (engine/config-fields.ts): one nullable GraphQL field per table row, typed, described and bounded
 * by the row, so a field added to a table reaches the API without a line here.
 */
import type { GraphQLScalarType } from "graphql";
import { Field, Float, InputType, Int, registerEnumType } from "type-graphql";
import { assertNever } from "../../errors.ts";
import {
  BASELINE_CONFIG_FIELDS,
  boundsText,
  fieldText,
  VCM_CONFIG_FIELDS,
  type BaselineFieldName,
  type ConfigField,
  type ConfigOf,
  type VcmFieldName,
} from "../../engine/config-fields.ts";

/** GraphQL enums of the enum fields, by field name: BaselineOptimizer for baselineOptimizer, values upper-cased. */
function enumOf(name: string, field: ConfigField): object {
  const values = Object.fromEntries((field.values ?? []).map((v) => [v.toUpperCase(), v]));
  registerEnumType(values, {
    name: name[0].toUpperCase() + name.slice(1),
    description: `The values of ${name}: ${boundsText(field)}.`,
  });
  return values;
}

function graphqlTypeOf(name: string, field: ConfigField): GraphQLScalarType | BooleanConstructor | object {
  switch (field.kind) {
    case "int":
      return Int;
    case "float":
    case "probability":
      return Float;
    case "boolean":
      return Boolean;
    case "enum":
      return enumOf(name, field);
    default:
      return assertNever(field.kind);
  }
}

/** An input class with one nullable field per row of `fields` that callers may set (ConfigField.input). */
function buildConfigInput<N extends string>(options: { name: string; description: string; fields: Readonly<Record<N, ConfigField>> }): new () => Partial<Record<N, unknown>> {
  const Input = class {};
  Object.defineProperty(Input, "name", { value: options.name });
  for (const [name, field] of Object.entries(options.fields) as Array<[N, ConfigField]>) {
    if (field.input === false) continue;
    const type = graphqlTypeOf(name, field);
    Field(() => type, { nullable: true, description: `${fieldText(field)}.` })(Input.prototype, name);
  }
  InputType(options.name, { description: options.description })(Input);
  return Input;
}

type Settable<N extends string, F> = { [K in N]: F extends Record<K, { input: false }> ? never : K }[N];

/** What a job may set of the VCM family and the training loop; everything omitted keeps the table's default. */
export type HyperParametersInput = Partial<ConfigOf<Settable<VcmFieldName, typeof VCM_CONFIG_FIELDS>>>;
export const HyperParametersInput = buildConfigInput({
  name: "HyperParametersInput",
  description: "Training hyper-parameters; omitted fields keep the paper's defaults.",
  fields: VCM_CONFIG_FIELDS,
}) as new () => HyperParametersInput;

/** The paper baselines' hyper-parameters; the VCM variants ignore them. */
export type BaselineParametersInput = Partial<ConfigOf<BaselineFieldName>>;
export const BaselineParametersInput = buildConfigInput({
  name: "BaselineParametersInput",
  description: "Hyper-parameters of the CDL, CVAE and DeepCoNN baselines (docs/cli.md, Baselines); the VCM variants ignore them. Unset fields take their defaults.",
  fields: BASELINE_CONFIG_FIELDS,
}) as new () => BaselineParametersInput;
