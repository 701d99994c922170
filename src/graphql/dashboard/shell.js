// The dashboard's shell: the header (dataset and model pickers, a search over users and items, links to
// every view) and the view under it. The address keeps the state (history.pushState), so a view can be
// shared or reloaded, but every state is reached by clicks and typing.
import { el, gql, fixed, itemName, userName } from "./api.js";
import { renderModels } from "./models-view.js";
import { renderCohorts } from "./cohorts-view.js";
import { renderUser } from "./user-view.js";
import { renderItem } from "./item-view.js";
import { renderExperiments } from "./experiments-view.js";

const SHELL = /* GraphQL */ `query DashboardShell {
  datasets { name models { id variant status decodesWords createdAt testMetrics { ndcgAt10 } } }
  modelAliases { dataset alias modelId candidateModelId candidateShare }
}`;
const SEARCH = /* GraphQL */ `query DashboardSearch($d: String!, $s: String!) {
  dataset(name: $d) {
    users(search: $s, first: 8) { totalCount edges { node { id externalId name } } }
    items(search: $s, first: 8) { totalCount edges { node { id externalId title } } }
  }
}`;

/** The views by the name the address keeps, in the order of the header's links. */
const VIEWS = [
  { name: "models", label: "Models", render: renderModels },
  { name: "cohorts", label: "Cohorts", render: renderCohorts },
  { name: "user", label: "Users", render: renderUser },
  { name: "item", label: "Items", render: renderItem },
  { name: "experiments", label: "Experiments", render: renderExperiments },
];

/** What a model is called in the pickers: id, variant, status, date and its headline metric. */
function modelLabel(m) {
  const metric = m.testMetrics && m.testMetrics.ndcgAt10 !== null ? ` · NDCG@10 ${fixed(m.testMetrics.ndcgAt10, 4)}` : "";
  return `model ${m.id} · ${m.variant} · ${m.status} · ${String(m.createdAt).slice(0, 10)}${metric}`;
}

function start() {
  const header = document.getElementById("shell");
  const root = document.getElementById("dashboard");
  // The page's title, painted before any data arrives, stays at the head of the header.
  const title = header.querySelector("h1");
  // Each render draws into its own box: one that a later click replaced draws into a detached box, unseen.
  let renders = 0;

  const params = () => new URLSearchParams(window.location.search);
  const withPatch = (patch) => {
    const next = params();
    for (const [key, value] of Object.entries(patch)) {
      if (value === null || value === undefined || value === "") next.delete(key);
      else next.set(key, String(value));
    }
    return next;
  };
  const navigate = (patch) => {
    window.history.pushState(null, "", `?${withPatch(patch).toString()}`);
    return render();
  };
  /** A link to the state `patch` leads to: a real href (open in a new tab, copy), followed here without a reload. */
  const link = (text, patch, attrs) => {
    const a = el("a", Object.assign({ href: `?${withPatch(patch).toString()}`, text }, attrs || {}));
    a.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      void navigate(patch);
    });
    return a;
  };

  const catalog = { datasets: [], aliases: [] };

  /** Fills in what the address leaves out (the first dataset, its newest ready model that decodes words) without a new history entry. */
  function settle() {
    const p = params();
    const dataset = catalog.datasets.find((d) => d.name === p.get("dataset")) || catalog.datasets[0];
    if (!dataset) return { p, dataset: null };
    const patch = {};
    if (p.get("dataset") !== dataset.name) patch.dataset = dataset.name;
    // The newest ready model that decodes words, so that every panel has something to draw; else the newest ready one.
    const ready = dataset.models.filter((m) => m.status === "READY");
    const preferred = ready.find((m) => m.decodesWords) || ready[0];
    if (!p.get("model") && preferred) patch.model = preferred.id;
    if (Object.keys(patch).length > 0) window.history.replaceState(null, "", `?${withPatch(patch).toString()}`);
    return { p: params(), dataset };
  }

  function modelSelect(id, label, models, aliases, value, optional, onChange) {
    const select = el("select", { id, "aria-label": label });
    if (optional) select.appendChild(el("option", { value: "", text: "— none —" }));
    for (const m of models) {
      const option = el("option", { value: m.id, text: modelLabel(m) });
      if (m.status !== "READY") option.disabled = true;
      select.appendChild(option);
    }
    if (aliases.length > 0) {
      const group = el("optgroup", { label: "aliases" });
      for (const a of aliases) {
        const candidate = a.candidateModelId ? `, candidate model ${a.candidateModelId} for ${Math.round(a.candidateShare * 100)} % of users` : "";
        group.appendChild(el("option", { value: a.modelId, "data-alias": a.alias, text: `alias ${a.alias} → model ${a.modelId}${candidate}` }));
      }
      select.appendChild(group);
    }
    select.value = value || "";
    select.addEventListener("change", () => onChange(select.value));
    return el("label", {}, [label, select]);
  }

  function drawHeader(p, dataset) {
    header.replaceChildren(title);
    const view = p.get("view") || "models";
    const nav = el("nav");
    for (const v of VIEWS) nav.appendChild(link(v.label, { view: v.name }, { class: v.name === view ? "current" : "", "data-view": v.name }));
    nav.appendChild(el("a", { href: "/", text: "GraphiQL" }));
    header.appendChild(nav);
    if (!dataset) return;
    const datasets = el("select", { id: "pick-dataset", "aria-label": "Dataset" }, catalog.datasets.map((d) => el("option", { value: d.name, text: d.name })));
    datasets.value = dataset.name;
    datasets.addEventListener("change", () => void navigate({ dataset: datasets.value, model: null, compare: null, user: null, item: null, experiment: null, a: null, b: null }));
    header.appendChild(el("label", {}, ["Dataset", datasets]));
    const aliases = catalog.aliases.filter((a) => a.dataset === dataset.name);
    header.appendChild(modelSelect("pick-model", "Model", dataset.models, aliases, p.get("model"), false, (id) => void navigate({ model: id })));
    header.appendChild(modelSelect("pick-compare", "Compare with", dataset.models, aliases, p.get("compare"), true, (id) => void navigate({ compare: id })));

    const input = el("input", { id: "search", type: "search", placeholder: "Find a user or item by id or name", "aria-label": "Find a user or item", size: 30 });
    const results = el("ul", { id: "search-results" });
    const form = el("form", { id: "search-form", role: "search" }, [input, el("button", { type: "submit", text: "Find" })]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void search(dataset.name, input.value.trim(), results);
    });
    header.appendChild(form);
    header.appendChild(results);
  }

  async function search(dataset, text, results) {
    results.replaceChildren();
    if (text === "") return;
    try {
      const d = await gql(SEARCH, { d: dataset, s: text });
      for (const e of d.dataset.users.edges) results.appendChild(el("li", {}, ["user ", link(userName(e.node), { view: "user", user: e.node.id })]));
      for (const e of d.dataset.items.edges) results.appendChild(el("li", {}, ["item ", link(itemName(e.node), { view: "item", item: e.node.id })]));
      const more = d.dataset.users.totalCount + d.dataset.items.totalCount - results.childElementCount;
      if (results.childElementCount === 0) results.appendChild(el("li", { class: "note", text: `Nothing in ${dataset} matches "${text}".` }));
      else if (more > 0) results.appendChild(el("li", { class: "note", text: `${more} more match; type more of the id or name.` }));
    } catch (error) {
      results.appendChild(el("li", { class: "error", text: error.message }));
    }
  }

  async function render() {
    renders += 1;
    const mine = renders;
    root.removeAttribute("data-ready");
    try {
      // The lists are asked again for each view, so that models trained since the page opened are offered.
      const d = await gql(SHELL);
      if (mine !== renders) return;
      catalog.datasets = d.datasets;
      catalog.aliases = d.modelAliases;
    } catch (error) {
      if (mine !== renders) return;
      window.vcmDashboard = { view: params().get("view") || "models", charts: [], ready: false, error: error.message };
      root.replaceChildren(el("p", { class: "error", text: error.message }));
      root.setAttribute("data-ready", "error");
      return;
    }
    const { p, dataset } = settle();
    const view = VIEWS.find((v) => v.name === p.get("view")) || VIEWS[0];
    // What the page drew, for tests and for anyone who wants the numbers behind a chart.
    window.vcmDashboard = { view: view.name, charts: [], ready: false, error: null };
    drawHeader(p, dataset);
    const box = el("div", { class: `view view-${view.name}` });
    root.replaceChildren(box);
    try {
      if (!dataset) box.appendChild(el("p", { text: "No dataset yet: ingest one with vcm ingest (or vcm demo), then reload this page." }));
      else await view.render({ root: box, params: p, dataset, catalog, link, navigate, modelLabel });
      if (mine !== renders) return;
      window.vcmDashboard.ready = true;
      root.setAttribute("data-ready", "true");
      performance.mark(root.dataset.drawnMark);
    } catch (error) {
      if (mine !== renders) return;
      window.vcmDashboard.error = error.message;
      box.appendChild(el("p", { class: "error", text: error.message }));
      root.setAttribute("data-ready", "error");
    }
  }

  window.addEventListener("popstate", () => void render());
  return render();
}

await start();
