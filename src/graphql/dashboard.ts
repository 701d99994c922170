/**
 * The dashboard at /dashboard: a page that draws what analysts would rather look at than read
 * (training curves, the cohort table of the paper's Table 3, a user's words, recommendations and
 * highlighted reviews, two models side by side), built only on the public GraphQL API and served
 * offline: Chart.js comes from node_modules, the client from this folder (dashboard/dashboard.js).
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SIGN_IN_SCRIPT, SIGN_IN_SCRIPT_NAME } from "./sign-in.ts";
import { StaticFiles, type StaticResponse } from "./static-files.ts";

const require = createRequire(import.meta.url);

/** URL of the page; its files are under DASHBOARD_PATH + "/". */
export const DASHBOARD_PATH = "/dashboard";

/** The only files the dashboard serves (a fixed map, so no request can reach any other path). */
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "chart.umd.min.js": { file: path.join(path.dirname(require.resolve("chart.js")), "chart.umd.min.js"), type: "text/javascript; charset=utf-8" },
  "dashboard.js": { file: path.join(path.dirname(fileURLToPath(import.meta.url)), "dashboard", "dashboard.js"), type: "text/javascript; charset=utf-8" },
};

const STYLE = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
nav a { margin-right: 1rem; } figure.chart { margin: 1rem 0; } figcaption { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
.columns { display: flex; gap: 2rem; } .column { flex: 1; min-width: 0; }
.review { max-width: 40rem; } .level-high { background: #f4a261; } .level-medium { background: #ffe8a3; } .level-low { background: #f1f1f1; }
.error { color: #b00020; }`;

/** The page; the view is chosen by the query string (dashboard.js). */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>VCM analytics · dashboard</title>
  <style>${STYLE}</style>
</head>
<body>
  <nav><a href="${DASHBOARD_PATH}?view=models">models</a><a href="${DASHBOARD_PATH}?view=cohorts">cohorts (add &amp;model=ID&amp;compare=ID)</a><a href="${DASHBOARD_PATH}?view=user">user (add &amp;user=ID&amp;model=ID&amp;compare=ID)</a><a href="/">GraphiQL</a></nav>
  <main id="dashboard"></main>
  <script src="${DASHBOARD_PATH}/${SIGN_IN_SCRIPT_NAME}"></script>
  <script src="${DASHBOARD_PATH}/chart.umd.min.js"></script>
  <script src="${DASHBOARD_PATH}/dashboard.js"></script>
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
