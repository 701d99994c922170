/** The paper baselines by variant name (types.ts BaselineVariant). */
import type { BaselineVariant } from "../../types.ts";
import type { Baseline } from "./baseline.ts";
import { cdl } from "./cdl.ts";
import { cvae } from "./cvae.ts";
import { deepconn } from "./deepconn.ts";

export const BASELINES: Readonly<Record<BaselineVariant, Baseline>> = Object.freeze({ cdl, cvae, deepconn });

/** The implementation of a baseline variant. */
export function baselineOf(variant: BaselineVariant): Baseline {
  return BASELINES[variant];
}

export { ROW_FINGERPRINTS, type Baseline, type BaselineSizes, type BaselineTrainer } from "./baseline.ts";
