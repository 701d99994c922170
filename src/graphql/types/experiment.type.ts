import { GraphQLDateTimeISO, GraphQLJSONObject } from "graphql-scalars";
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from "type-graphql";
import { MAX_EXPERIMENT_RUNS, MAX_EXPERIMENT_SEEDS, MAX_GRID_VALUES } from "../../services/experiment.ts";
import { MAX_TUNE_TRIALS } from "../../services/experiment-tune.ts";
import { BaselineParametersInput, HyperParametersInput } from "./config-inputs.ts";
import { VariantEnum } from "./training-job.type.ts";

/** One axis of an experiment's grid: a numeric setting and its values. */
@InputType("GridAxisInput", { description: "One axis of an experiment's grid: a numeric setting of HyperParametersInput or BaselineParametersInput (seed aside) and the values it takes." })
export class GridAxisInput {
  @Field(() => String, { description: "The setting's field name, as latentDim or textOffsetReg." })
  name: string;

  @Field(() => [Float], { description: `Its values, within the setting's bounds; at most ${MAX_GRID_VALUES} distinct ones (duplicates are removed).` })
  values: number[];
}

/** One figure of an experiment's report. */
@ObjectType("ExperimentFigure", { description: "A figure of an experiment's report as data: the Vega-Lite spec (data inline) that the report renders to NAME.svg and NAME.png in its folder." })
export class ExperimentFigureType {
  @Field(() => String, { description: 'The figure\'s file name in the report folder, without extension: "figure4-vcm", "figure4-vcm-cd" (the paper\'s Figure 4), "figure2" (Figure 2, validation curves), "figure3-MODEL" (Figure 3, a two-axis grid).' })
  name: string;

  @Field(() => String, { description: "The figure's title (the spec's)." })
  title: string;

  @Field(() => GraphQLJSONObject, { description: "The Vega-Lite (v6) spec with its data inline, exactly as the report rendered it: vega-lite compiles it and vega draws it." })
  spec: Record<string, unknown>;
}

/** Where an experiment stands, as GraphQL names it (values are the stored statuses). */
export enum ExperimentStatusEnum {
  QUEUED = "queued",
  RUNNING = "running",
  FINISHED = "finished",
  FAILED = "failed",
  CANCELLED = "cancelled",
}
registerEnumType(ExperimentStatusEnum, {
  name: "ExperimentStatus",
  description:
    "QUEUED (a server runs one experiment at a time), RUNNING, FINISHED, FAILED (its process died, or a run failed), CANCELLED; a FAILED or CANCELLED experiment started again with the same arguments resumes.",
});

/** A `vcm experiment`; resolvers return the Experiment entity (src/db/entities/experiment.entity.ts). */
@ObjectType("Experiment", {
  description:
    "A comparison run by `vcm experiment`: every listed model trained with every seed on one dataset (each run is a trained model), evaluated on the test split. Its report (report.md, CSVs, figures) is in the folder it was given.",
})
export class ExperimentType {
  @Field(() => ID)
  id: number;

  @Field(() => GraphQLJSONObject, { description: "The arguments: dataset, models, seeds, epochs, shared hyper-parameters, grid." })
  args: Record<string, unknown>;

  @Field(() => ExperimentStatusEnum)
  status: string;

  @Field(() => Int, { description: "Tuning trials per model before its seeds' runs (startExperiment's tune); 0: untuned, its runs at the given settings." })
  tuneTrials: number;

  @Field(() => Int, { description: "Runs finished (model × seed, plus grid cells and tuning trials)." })
  runsDone: number;

  @Field(() => Int)
  runsTotal: number;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description:
      'The report\'s tables once finished: "settings", model → each setting other than its defaults → value (tuned values included); "tuning" when tuned, model → { space, trials: [{ settings, bestValNdcg100 }], chosen }; for "vcm" and "vcm-cd", model → metric (ndcg@10 … recall@100) → { mean, standardError, pValue, significant }, where significant means a paired t-test over users against the best other model gives p < 0.01.',
  })
  results: Record<string, unknown> | null;

  @Field(() => String, { nullable: true, description: "Why it failed or was cancelled, as a sentence." })
  error: string | null;

  @Field(() => Boolean, { description: "A cancel was asked while it ran elsewhere; it stops at its next heartbeat." })
  cancelRequested: boolean;

  @Field(() => GraphQLDateTimeISO)
  createdAt: Date;

  @Field(() => GraphQLDateTimeISO, { nullable: true })
  finishedAt: Date | null;
}

/** What startExperiment needs: `vcm experiment`'s arguments. */
@InputType("StartExperimentInput")
export class StartExperimentInput {
  @Field(() => String, { description: "Name of the dataset (its split is kept)." })
  dataset: string;

  @Field(() => [VariantEnum], { description: "The models to compare, e.g. [VCM, VCM_SE, CDL, CVAE, DEEPCONN, POPULARITY]." })
  models: VariantEnum[];

  @Field(() => Int, { description: `Training seeds per model, 1 to ${MAX_EXPERIMENT_SEEDS} (runs use seeds 1 … n).` })
  seeds: number;

  @Field(() => Int, { nullable: true, description: "Epochs of every run (default: each variant's)." })
  epochs?: number;

  @Field(() => HyperParametersInput, {
    nullable: true,
    description: "Settings of the VCM family and the training loop, each applied to the listed models that read it (seed aside: runs use seeds 1 … seeds); BAD_USER_INPUT for one that no listed model reads.",
  })
  hyperParameters?: HyperParametersInput;

  @Field(() => BaselineParametersInput, { nullable: true, description: "Settings of the CDL, CVAE and DeepCoNN baselines, each applied to the listed models that read it; BAD_USER_INPUT for one that no listed model reads." })
  baselineParameters?: BaselineParametersInput;

  @Field(() => [GridAxisInput], {
    nullable: true,
    description: `Grids over numeric settings: every listed model that reads an axis is also trained for every combination of the axes it reads, with every seed (several axes make a product); at most ${MAX_GRID_VALUES} distinct values per axis and ${MAX_EXPERIMENT_RUNS.toLocaleString("en-US")} runs in all. BAD_USER_INPUT for a setting that is not numeric or that no listed model reads.`,
  })
  grid?: GridAxisInput[];

  @Field(() => [Int], {
    nullable: true,
    description: `The paper's Figure 3 grid (the same as a grid axis named latentDim): latent sizes K for VCM (with gridBeta, or the default β); at most ${MAX_GRID_VALUES} distinct values (duplicates are removed), and at most ${MAX_EXPERIMENT_RUNS.toLocaleString("en-US")} runs in all (models × seeds + K × β × seeds).`,
  })
  gridLatentDim?: number[];

  @Field(() => [Float], { nullable: true, description: `The grid's KL weights β (the same as a grid axis named beta); at most ${MAX_GRID_VALUES} distinct values (duplicates are removed).` })
  gridBeta?: number[];

  @Field(() => Int, {
    nullable: true,
    description: `Tune each model first (default 0: untuned): this many trials, 1 to ${MAX_TUNE_TRIALS}, of a seeded random search over its learning rate and main regularisation weights (the settings not given here), each trained with seed 1 and early stopping and scored by validation NDCG@100; its seeds then train at the best trial's values. Trials count as runs towards the ${MAX_EXPERIMENT_RUNS.toLocaleString("en-US")}-run bound; results.tuning lists the space, the trials and the chosen values.`,
  })
  tune?: number;
}
