import { Arg, Ctx, Mutation, Resolver } from "type-graphql";
import { appendRecords, MAX_APPEND_RECORDS, type AppendSummary } from "../../services/append.ts";
import type { GraphQLContext } from "../context.ts";
import { AppendRecordInput, AppendResultType } from "../types/append.type.ts";

@Resolver()
export class AppendResolver {
  @Mutation(() => AppendResultType, {
    description:
      `Appends up to ${MAX_APPEND_RECORDS} records to an existing dataset in one transaction, with the rules of its ingest (rating threshold, tokenizer, stop words; the vocabulary never grows): new users and items get the next matrix rows and columns, clicks join the training split (a repeated (user, item) changes nothing), and the dataset's version goes up by one when anything was added. Trained models are kept. Larger appends: \`vcm ingest --append\`. Needs an admin credential (\`Authorization: Bearer <key>\` with an admin API key, or VCM_ADMIN_TOKEN) once the server has one; FORBIDDEN for an analyst key. NOT_FOUND for an unknown dataset, BAD_USER_INPUT for more than ${MAX_APPEND_RECORDS} records, DATABASE_BUSY while another append or ingest of the dataset runs for over a few seconds.`,
  })
  async appendInteractions(
    @Ctx() context: GraphQLContext,
    @Arg("dataset", () => String, { description: "Name of the dataset to append to." }) dataset: string,
    @Arg("records", () => [AppendRecordInput]) records: AppendRecordInput[],
  ): Promise<AppendSummary> {
    const summary = await appendRecords(context.deps.dataSource, {
      dataset,
      records: records.map((r) => ({ user: r.user, item: r.item, rating: r.rating ?? null, text: r.text ?? null, time: r.time ?? null })),
    });
    // This server's own commit does not move its commit watch: its caches follow the new version now.
    if (summary.added) await context.prediction?.services.inference.datasetChanged(summary.datasetId);
    return summary;
  }
}
