// Cohorts view: test users grouped by activity as chosen on the page (boundaries, equal users, equal
// interactions), accuracy, capacity and beyond-accuracy figures per cohort for one or two models, and
// the items' popularity cohorts (head, torso, tail). Cohorts without users are not drawn.
import { COLORS, chart, el, fixed, gql, table } from "./api.js";

const COHORTS = /* GraphQL */ `query DashboardCohorts($m: ID!, $c: ID, $g: CohortGrouping!, $n: Int!) {
  cohorts(modelId: $m, compareTo: $c, grouping: $g, groups: $n) {
    testUsers
    beyondAccuracy { coverage arp aplt novelty }
    cohorts { label userCount figures { ...DashboardCohortFigures } compared { ...DashboardCohortFigures } }
    itemCohorts { name itemCount clickShare testClicks recall20 recommendationShare }
  }
}
fragment DashboardCohortFigures on CohortFigures {
  meanCapacity ndcg10 recall20 beyondAccuracy { coverage arp aplt novelty }
}`;

/** The groupings the page offers, with what the API calls them. */
const GROUPINGS = [
  { value: "BOUNDARIES", label: "activity boundaries (the paper's Table 3)" },
  { value: "EQUAL_USERS", label: "groups of equal users" },
  { value: "EQUAL_INTERACTIONS", label: "groups of equal training clicks" },
];
const DEFAULT_GROUPS = 5;

function controls(ctx, grouping, groups) {
  const select = el("select", { id: "cohort-grouping", "aria-label": "Grouping" }, GROUPINGS.map((g) => el("option", { value: g.value, text: g.label })));
  select.value = grouping;
  const count = el("input", { id: "cohort-groups", type: "number", min: 1, max: 51, value: groups, "aria-label": "Groups", size: 3 });
  const sync = () => { count.disabled = select.value === "BOUNDARIES"; };
  sync();
  select.addEventListener("change", sync);
  const form = el("form", { class: "controls", id: "cohort-form" }, [el("label", {}, ["Grouping ", select]), el("label", {}, ["groups ", count]), el("button", { type: "submit", text: "Group" })]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void ctx.navigate({ grouping: select.value, groups: select.value === "BOUNDARIES" ? null : count.value });
  });
  return form;
}

export async function renderCohorts(ctx) {
  const { root, params } = ctx;
  const model = params.get("model");
  const compare = params.get("compare") && params.get("compare") !== model ? params.get("compare") : null;
  const grouping = params.get("grouping") || "BOUNDARIES";
  const groups = params.has("groups") ? Number(params.get("groups")) : DEFAULT_GROUPS;
  root.appendChild(controls(ctx, grouping, groups));
  if (!model) {
    root.appendChild(el("p", { text: "No ready model in this dataset: train one (vcm train) to see its cohorts." }));
    return;
  }
  const d = await gql(COHORTS, { m: model, c: compare, g: grouping, n: groups });
  const a = d.cohorts;
  root.appendChild(el("h2", { text: `Cohorts by activity — model ${model}${compare ? ` against model ${compare}` : ""} (${a.testUsers} test users)` }));
  const shown = a.cohorts.filter((c) => c.userCount > 0);
  const empty = a.cohorts.filter((c) => c.userCount === 0);
  if (empty.length > 0) root.appendChild(el("p", { class: "note", text: `Not drawn, no test user: ${empty.map((c) => c.label).join(", ")}.` }));
  const labels = shown.map((c) => c.label);
  const models = compare ? [[model, "figures"], [compare, "compared"]] : [[model, "figures"]];
  const series = (name, pick) => models.map(([id, key]) => ({ label: `${name}, model ${id}`, values: shown.map((c) => (c[key] ? pick(c[key]) : null)) }));
  const bars = (title, list, offset, options) => chart(root, title, {
    type: "bar",
    data: { labels, datasets: list.map((s, i) => ({ label: s.label, backgroundColor: COLORS[(i + offset) % COLORS.length], data: s.values })) },
    options,
  }, list.map((s) => s.values));

  bars("NDCG@10 per activity cohort", series("NDCG@10", (f) => f.ndcg10), 0);
  bars("Mean capacity ĉu per activity cohort", series("ĉu", (f) => f.meanCapacity), 2);
  // Coverage and APLT are both shares from 0 to 1, so they share one axis.
  const beyond = models.flatMap(([id, key]) => [
    { label: `coverage@10, model ${id}`, values: shown.map((c) => (c[key] ? c[key].beyondAccuracy.coverage : null)) },
    { label: `APLT@10, model ${id}`, values: shown.map((c) => (c[key] ? c[key].beyondAccuracy.aplt : null)) },
  ]);
  bars("Catalogue coverage and long-tail share (APLT) of the top 10 per activity cohort", beyond, 0, { scales: { y: { min: 0, max: 1 } } });

  // One row per cohort and model, so two models' figures sit one above the other.
  const header = ["cohort", "users", "model", "ĉu", "NDCG@10", "Recall@20", "coverage@10", "ARP@10", "APLT@10", "novelty@10"];
  const cells = (f) => (f ? [fixed(f.meanCapacity, 2), fixed(f.ndcg10, 4), fixed(f.recall20, 4), fixed(f.beyondAccuracy.coverage, 4), fixed(f.beyondAccuracy.arp, 1), fixed(f.beyondAccuracy.aplt, 4), fixed(f.beyondAccuracy.novelty, 2)] : [null, null, null, null, null, null, null]);
  table(root, header, shown.flatMap((c) => models.map(([id, key]) => [c.label, c.userCount, id].concat(cells(c[key])))), { id: "cohort-table" });
  const all = a.beyondAccuracy;
  root.appendChild(el("p", { text: `All test users, model ${model}: coverage@10 ${fixed(all.coverage, 4)}, ARP@10 ${fixed(all.arp, 1)}, APLT@10 ${fixed(all.aplt, 4)}, novelty@10 ${fixed(all.novelty, 2)} bits.` }));

  root.appendChild(el("h3", { text: `Items by popularity — model ${model}` }));
  const items = a.itemCohorts.filter((c) => c.itemCount > 0);
  chart(root, "Share of training clicks, of top-10 slots and Recall@20 per item-popularity cohort", {
    type: "bar",
    data: { labels: items.map((c) => c.name), datasets: [
      { label: "share of training clicks", backgroundColor: COLORS[0], data: items.map((c) => c.clickShare) },
      { label: "share of top-10 slots", backgroundColor: COLORS[1], data: items.map((c) => c.recommendationShare) },
      { label: "Recall@20", backgroundColor: COLORS[2], data: items.map((c) => c.recall20) },
    ] },
    options: { scales: { y: { min: 0, max: 1 } } },
  }, [items.map((c) => c.clickShare), items.map((c) => c.recommendationShare), items.map((c) => c.recall20)]);
  table(root, ["items", "count", "share of training clicks", "test clicks", "Recall@20", "share of top-10 slots"], items.map((c) => [c.name, c.itemCount, fixed(c.clickShare, 4), c.testClicks, fixed(c.recall20, 4), fixed(c.recommendationShare, 4)]), { id: "item-cohort-table" });
}
