/**
 * The experiment report's figures, drawn with Vega-Lite (compiled and rendered to SVG in Node, no
 * browser) and rasterised to PNG with resvg: bars of NDCG@R and Recall@R per model with ± standard
 * error (the paper's Figure 4), the mean validation curves (Figure 2) and the K × β grid (Figure 3).
 */
import fs from "node:fs";
import path from "node:path";
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import * as vl from "vega-lite";

/** One figure of a report: its file name (without extension), its title and its Vega-Lite spec with the data inline. */
export interface ReportFigure {
  readonly name: string;
  readonly title: string;
  readonly spec: vl.TopLevelSpec;
}

/** A figure named `name` of a spec built by metricsSpec, curvesSpec or gridSpec (its title is the spec's). */
export function reportFigure(name: string, spec: vl.TopLevelSpec): ReportFigure {
  return { name, title: typeof spec.title === "string" ? spec.title : name, spec };
}

/** Renders a Vega-Lite spec to DIR/NAME.svg and DIR/NAME.png; returns the two paths. */
export async function writePlot(options: { dir: string; name: string; spec: vl.TopLevelSpec }): Promise<string[]> {
  const compiled = vl.compile(options.spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  const svgPath = path.join(options.dir, `${options.name}.svg`);
  const pngPath = path.join(options.dir, `${options.name}.png`);
  fs.writeFileSync(svgPath, svg);
  fs.writeFileSync(pngPath, new Resvg(svg, { fitTo: { mode: "zoom", value: 2 }, font: { loadSystemFonts: true } }).render().asPng());
  return [svgPath, pngPath];
}

/** Figure 4: one panel per metric family, R on the x axis, a bar per model with its standard error. */
export function metricsSpec(options: { title: string; rows: ReadonlyArray<{ model: string; metric: string; cutoff: number; mean: number; low: number; high: number }> }): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: options.title,
    data: { values: options.rows.map((r) => ({ ...r })) },
    facet: { column: { field: "metric", type: "nominal", title: null } },
    spec: {
      width: 260,
      height: 200,
      layer: [
        { mark: "bar", encoding: { x: { field: "cutoff", type: "ordinal", title: "R" }, xOffset: { field: "model" }, y: { field: "mean", type: "quantitative", title: "mean over seeds" }, color: { field: "model", type: "nominal" } } },
        { mark: { type: "rule" }, encoding: { x: { field: "cutoff", type: "ordinal" }, xOffset: { field: "model" }, y: { field: "low", type: "quantitative" }, y2: { field: "high" } } },
      ],
    },
  } as vl.TopLevelSpec;
}

/** Figure 2: validation NDCG@100 per epoch, one line per model. */
export function curvesSpec(rows: ReadonlyArray<{ model: string; epoch: number; value: number }>): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Validation NDCG@100 per epoch (mean over seeds)",
    width: 480,
    height: 260,
    data: { values: rows.map((r) => ({ ...r })) },
    mark: { type: "line", point: true },
    encoding: { x: { field: "epoch", type: "quantitative" }, y: { field: "value", type: "quantitative", title: "NDCG@100" }, color: { field: "model", type: "nominal" } },
  } as vl.TopLevelSpec;
}

/** A heat map of best validation NDCG@100 over a grid's two axes (the paper's Figure 3 over K × β). */
export function gridSpec(o: { title: string; rows: ReadonlyArray<{ row: number; column: number; value: number }>; rowTitle: string; columnTitle: string }): vl.TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: o.title,
    width: 320,
    height: 260,
    data: { values: o.rows.map((r) => ({ ...r })) },
    encoding: { x: { field: "column", type: "ordinal", title: o.columnTitle }, y: { field: "row", type: "ordinal", title: o.rowTitle, sort: "descending" } },
    layer: [
      { mark: "rect", encoding: { color: { field: "value", type: "quantitative", title: "NDCG@100" } } },
      { mark: { type: "text", fontSize: 11 }, encoding: { text: { field: "value", type: "quantitative", format: ".4f" } } },
    ],
  } as vl.TopLevelSpec;
}
