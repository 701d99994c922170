// Experiments view: the dataset's experiments with status and progress (polled while any runs), and
// one experiment's report: its result tables and its figures, Vega-Lite specs drawn here by Vega's
// browser build (served from node_modules with the page, loaded only by this view).
import { el, fixed, gql, table, when } from "./api.js";

const EXPERIMENTS = /* GraphQL */ `query DashboardExperiments($d: String!) {
  experiments(dataset: $d) { id status runsDone runsTotal tuneTrials createdAt finishedAt error args }
}`;
const EXPERIMENT = /* GraphQL */ `query DashboardExperiment($e: ID!) {
  experiment(id: $e) { id status runsDone runsTotal createdAt finishedAt error args results }
}`;
const FIGURES = /* GraphQL */ `query DashboardExperimentFigures($e: ID!) {
  experiment(id: $e) { figures { name title spec } }
}`;

/** Seconds between two polls while an experiment is queued or running. */
const POLL_SECONDS = 2;
const LIVE = new Set(["QUEUED", "RUNNING"]);

/** Loads one of the page's scripts (Vega's builds) once, from beside this module. */
function loadScript(name, global) {
  if (window[global]) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = el("script", { src: new URL(`./${name}`, import.meta.url).toString() });
    script.addEventListener("load", () => resolve());
    script.addEventListener("error", () => reject(new Error(`The dashboard could not load ${name} from the server; reload the page.`)));
    document.head.appendChild(script);
  });
}

function progress(e) {
  return el("span", {}, [el("progress", { max: Math.max(e.runsTotal, 1), value: e.runsDone }), ` ${e.runsDone} / ${e.runsTotal}`]);
}

function describe(args) {
  const models = Array.isArray(args.models) ? args.models.join(", ") : "";
  return `${models}; ${args.seeds} seed${args.seeds === 1 ? "" : "s"}, ${args.epochs} epochs`;
}

/** A cell of a result table: a metric as mean ± standard error (* when significant), other values as text. */
function cellText(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return Number.isInteger(value) ? value : fixed(value, 4);
  if (typeof value === "object" && typeof value.mean === "number") {
    // One seed has no standard error.
    const error = typeof value.standardError === "number" ? ` ± ${fixed(value.standardError, 4)}` : "";
    return `${fixed(value.mean, 4)}${error}${value.significant ? " *" : ""}`;
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The report's tables: each top-level key a table of its rows (models) by the union of their columns. */
function resultTables(parent, results) {
  for (const [name, rows] of Object.entries(results)) {
    parent.appendChild(el("h4", { text: name }));
    if (rows === null || typeof rows !== "object") {
      parent.appendChild(el("p", { text: String(rows) }));
      continue;
    }
    const columns = [];
    for (const row of Object.values(rows)) {
      if (row !== null && typeof row === "object" && !Array.isArray(row)) for (const k of Object.keys(row)) if (!columns.includes(k)) columns.push(k);
    }
    table(parent, [""].concat(columns), Object.entries(rows).map(([key, row]) => [key].concat(columns.map((c) => cellText(row && row[c])))), { class: "result-table", "data-name": name });
  }
  parent.appendChild(el("p", { class: "note", text: "Metric cells: mean ± standard error over seeds; * where a paired t-test over users against the best other model gives p < 0.01." }));
}

async function figures(parent, list) {
  if (list.length === 0) return;
  await loadScript("vega.min.js", "vega");
  await loadScript("vega-lite.min.js", "vegaLite");
  for (const f of list) {
    const box = el("div", { class: "figure-box", "data-figure": f.name });
    // The spec draws its own title, so the figure is only labelled with it.
    parent.appendChild(el("figure", { "aria-label": f.title }, [box]));
    const view = new window.vega.View(window.vega.parse(window.vegaLite.compile(f.spec).spec), { renderer: "svg", container: box, hover: true });
    await view.runAsync();
    window.vcmDashboard.figures.push({ name: f.name, title: f.title });
  }
}

async function detail(section, id) {
  const e = (await gql(EXPERIMENT, { e: id })).experiment;
  section.replaceChildren(el("h3", { text: `Experiment ${e.id} — ${e.status.toLowerCase()}` }));
  section.appendChild(el("p", {}, [`${describe(e.args)}. Started ${when(e.createdAt)}${e.finishedAt ? `, finished ${when(e.finishedAt)}` : ""}. Runs `, progress(e)]));
  if (e.error) section.appendChild(el("p", { class: "error", text: e.error }));
  if (e.results) resultTables(section, e.results);
  else section.appendChild(el("p", { class: "note", text: "The report's tables and figures appear here once it has finished." }));
  if (e.results) await figures(section, (await gql(FIGURES, { e: id })).experiment.figures);
  return e;
}

export async function renderExperiments(ctx) {
  const { root, params, dataset } = ctx;
  window.vcmDashboard.figures = [];
  root.appendChild(el("h2", { text: `Experiments on ${dataset.name}` }));
  const list = el("section", { id: "experiment-list" });
  const shown = el("section", { id: "experiment" });
  root.appendChild(list);
  root.appendChild(shown);
  const draw = (experiments) => {
    list.replaceChildren();
    if (experiments.length === 0) {
      list.appendChild(el("p", { text: "No experiment on this dataset yet: run one with vcm experiment (or the startExperiment mutation)." }));
      return;
    }
    table(list, ["experiment", "status", "runs", "models", "started", "finished"], experiments.map((e) => [
      ctx.link(`experiment ${e.id}`, { view: "experiments", experiment: e.id }), { text: e.status.toLowerCase() }, progress(e), describe(e.args), when(e.createdAt), when(e.finishedAt),
    ]), { id: "experiments-table" });
  };
  const experiments = (await gql(EXPERIMENTS, { d: dataset.name })).experiments;
  draw(experiments);
  const id = params.get("experiment");
  const current = id ? await detail(shown, id) : null;

  // While anything runs, poll until it ends or the view is left; the shown experiment is redrawn when it changes.
  let last = JSON.stringify(experiments.map((e) => [e.id, e.status, e.runsDone]));
  let shownStatus = current ? `${current.status}/${current.runsDone}` : null;
  const poll = () => {
    if (!root.isConnected) return;
    gql(EXPERIMENTS, { d: dataset.name }).then(async (d) => {
      const now = JSON.stringify(d.experiments.map((e) => [e.id, e.status, e.runsDone]));
      if (now !== last) {
        last = now;
        draw(d.experiments);
        const mine = id ? d.experiments.find((e) => e.id === id) : undefined;
        if (mine && `${mine.status}/${mine.runsDone}` !== shownStatus) {
          shownStatus = `${mine.status}/${mine.runsDone}`;
          await detail(shown, id);
        }
      }
      if (root.isConnected && d.experiments.some((e) => LIVE.has(e.status))) window.setTimeout(poll, POLL_SECONDS * 1000);
    }).catch((error) => {
      list.appendChild(el("p", { class: "error", text: error.message }));
    });
  };
  if (experiments.some((e) => LIVE.has(e.status))) window.setTimeout(poll, POLL_SECONDS * 1000);
}
