/**
 * The dashboard at /dashboard: a page an analyst navigates by clicks (pickers for the dataset and the
 * models, a search over users and items, links between views) that draws what is easier to look at than
 * to read (training curves, cohorts, a user's history beside the reasons for each recommendation, an
 * item's audience, experiments' reports), built only on the public GraphQL API and served offline:
 * Chart.js and Vega-Lite come from node_modules, the client's ES modules from this folder (dashboard/).
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SIGN_IN_SCRIPT, SIGN_IN_SCRIPT_NAME } from "./sign-in.ts";
import { StaticFiles, type StaticResponse } from "./static-files.ts";

const require = createRequire(import.meta.url);
const JS = "text/javascript; charset=utf-8";

/** URL of the page; its files are under DASHBOARD_PATH + "/". */
export const DASHBOARD_PATH = "/dashboard";

/** The performance mark the page sets each time a view has drawn its data (read by npm run bench:dashboard). */
export const DRAWN_MARK = "vcm-dashboard-drawn";

/** The folder of the client's modules. */
export const DASHBOARD_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "dashboard");

/** The client's ES modules: the shell (the page's entry) and one per view; every GraphQL document the page sends is in one of them. */
export const DASHBOARD_MODULES: ReadonlyArray<string> = ["shell.js", "api.js", "models-view.js", "cohorts-view.js", "user-view.js", "item-view.js", "experiments-view.js"];

/** The only files the dashboard serves (a fixed map, so no request can reach any other path). */
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "chart.umd.min.js": { file: path.join(path.dirname(require.resolve("chart.js")), "chart.umd.min.js"), type: JS },
  // Vega and Vega-Lite's browser builds draw the experiments' figures; loaded only by that view.
  "vega.min.js": { file: path.join(path.dirname(require.resolve("vega")), "vega.min.js"), type: JS },
  "vega-lite.min.js": { file: path.join(path.dirname(require.resolve("vega-lite")), "vega-lite.min.js"), type: JS },
  "dashboard.css": { file: path.join(DASHBOARD_DIR, "dashboard.css"), type: "text/css; charset=utf-8" },
  ...Object.fromEntries(DASHBOARD_MODULES.map((name) => [name, { file: path.join(DASHBOARD_DIR, name), type: JS }])),
};

/** The page: a header the shell fills, and the view under it (dashboard/shell.js). */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>VCM analytics · dashboard</title>
  <link rel="icon" href="data:," />
  <link rel="stylesheet" href="${DASHBOARD_PATH}/dashboard.css" />
</head>
<body>
  <header id="shell"><h1>VCM analytics</h1></header>
  <main id="dashboard" data-drawn-mark="${DRAWN_MARK}"><p class="note">Loading…</p></main>
  <script src="${DASHBOARD_PATH}/${SIGN_IN_SCRIPT_NAME}"></script>
  <script src="${DASHBOARD_PATH}/chart.umd.min.js"></script>
  <script type="module" src="${DASHBOARD_PATH}/shell.js"></script>
</body>
</html>
`;
}

/** Serves the dashboard's page and files; null for a name that is not one of them. */
export class DashboardAssets {
  private readonly files = new StaticFiles(FILES);

  page(): StaticResponse {
    return { type: "text/html; charset=utf-8", body: dashboardHtml() };
  }

  asset(name: string): Promise<StaticResponse | null> {
    if (name === SIGN_IN_SCRIPT_NAME) return Promise.resolve({ type: "text/javascript; charset=utf-8", body: SIGN_IN_SCRIPT });
    return this.files.get(name);
  }
}
