import { GraphQLJSONObject } from "graphql-scalars";
import { Field, ID, Int, ObjectType, registerEnumType } from "type-graphql";
import { createConnectionType } from "./connection.ts";

/** An item of a dataset; resolvers return the Item entity (src/db/entities/item.entity.ts) as its value. */
@ObjectType("Item", { description: "An item kept by preprocessing." })
export class ItemType {
  @Field(() => ID, { description: "Internal id (unique across datasets)." })
  id: number;

  @Field(() => String, { description: "The id in the source data (asin, business_id…), unique within the dataset." })
  externalId: string;

  @Field(() => Int, { description: "Column of the item in the dataset's click matrices." })
  columnIndex: number;

  @Field(() => Int, { description: "Users who clicked the item, all splits." })
  clickCount: number;

  @Field(() => Int, { description: "Users who clicked the item in the training split (its popularity)." })
  trainClickCount: number;

  @Field(() => String, { nullable: true, description: "Name or title from the dataset's metadata (vcm metadata, or vcm ingest --items); null until one is attached." })
  title: string | null;

  @Field(() => [String], { description: "Categories or tags from the metadata, in the source's order; empty without metadata." })
  categories: string[];

  @Field(() => GraphQLJSONObject, { nullable: true, description: "Other fields of the metadata record (brand, city, price…); null without metadata." })
  attributes: Record<string, unknown> | null;
}

/** Orderings of a dataset's items. */
export enum ItemOrder {
  ID = "ID",
  POPULARITY = "POPULARITY",
}
registerEnumType(ItemOrder, {
  name: "ItemOrder",
  description: "ID: by internal id. POPULARITY: by training clicks, ties broken by id.",
});

export const ItemConnection = createConnectionType("Item", ItemType);
