import { Field, ID, ObjectType, registerEnumType } from "type-graphql";
import type { ClickSplit } from "../../db/entities/click.entity.ts";
import { createConnectionType } from "./connection.ts";

/** The split of a click, as GraphQL names it (values are the stored split names). */
export enum SplitEnum {
  TRAIN = "train",
  VALIDATION = "validation",
  TEST = "test",
}
registerEnumType(SplitEnum, {
  name: "Split",
  description: "Per user, clicks are split at random 60 / 20 / 20 into train / validation / test.",
});

/** A click; resolvers return the Click entity (src/db/entities/click.entity.ts) as its value. */
@ObjectType("Click", { description: "One (user, item) click after binarisation and filtering." })
export class ClickType {
  @Field(() => ID)
  id: number;

  @Field(() => SplitEnum)
  split: ClickSplit;
}

export const ClickConnection = createConnectionType("Click", ClickType);
