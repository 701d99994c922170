/**
 * How much each click of a user's history x_u holds up one item's VCM score: the exact relative fall
 * δ(j) = 1 − π_ui(x_u ∖ j) / π_ui(x_u) when the clicked item j alone leaves the history, with
 * π_u(x) = softmax(VAEx decoder(μx(x / ‖x‖))) (docs/model.md §1, VCM). Each user costs one forward
 * pass per click plus one for the whole history, shared by all the items asked about for that user
 * (deletion.ts). No gradient shortlist: every click is checked, since the pass per click is shared
 * by every item of the user and a shortlist per item would save passes only for users asked about one item.
 */
import type { CsrMatrix } from "../../../data/csr.ts";
import type { PackedLayer } from "../../runtime/index.ts";
import type { Params } from "../params.ts";
import { groupedDeletionEffects, type DeletionGroup } from "./deletion.ts";

/** One (user, item) pair: the user's row of the click matrix and the item's column. */
export interface ClickEffectPair {
  readonly row: number;
  readonly item: number;
}

/** δ(j) of every click j of each pair's user (the row's CSR entries of `clicks`, in their order), one Float32Array per pair. */
export async function clickDeletionEffects(o: { params: Params; clicks: CsrMatrix; pairs: ReadonlyArray<ClickEffectPair>; packed?: PackedLayer }): Promise<Float32Array[]> {
  const [effects] = await groupedDeletionEffects({ params: o.params, packed: o.packed, groups: [clickDeletionGroup(o)] });
  return effects;
}

/** The pairs as deletion requests of the click side, every click of each pair's user asked for (deletion.ts). */
export function clickDeletionGroup(o: { clicks: CsrMatrix; pairs: ReadonlyArray<ClickEffectPair> }): DeletionGroup {
  const { clicks } = o;
  const requests = o.pairs.map((p) => ({ row: p.row, item: p.item, columns: clicks.indices.subarray(clicks.indptr[p.row], clicks.indptr[p.row + 1]) }));
  return { side: "x", matrix: clicks, requests };
}
