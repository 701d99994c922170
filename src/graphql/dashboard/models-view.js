// Models view: every model of the dataset with its training curves and test metrics, and any two of
// them compared (curves, test metrics, compareModels' paired t-test over the same test users).
import { COLORS, chart, el, fixed, gql, table, when } from "./api.js";

const MODELS = /* GraphQL */ `query DashboardDatasetModels($n: String!) {
  dataset(name: $n) {
    name
    models {
      id variant status createdAt bestEpoch secondsPerEpoch
      testMetrics { ndcgAt10 ndcgAt20 ndcgAt50 ndcgAt100 recallAt10 recallAt20 recallAt50 recallAt100 }
      trainingCurve { epoch valNdcg100 reconX reconY klPriorX klPriorY klCrossX klCrossY }
    }
  }
}`;
const COMPARE = /* GraphQL */ `query DashboardCompareModels($a: ID!, $b: ID!) {
  compareModels(modelId: $a, compareTo: $b) {
    users
    metrics { metric meanModel meanCompared difference statistic pValue df }
  }
}`;

const LOSS_TERMS = ["reconX", "reconY", "klPriorX", "klPriorY", "klCrossX", "klCrossY"];
const TEST_METRICS = ["ndcgAt10", "ndcgAt20", "ndcgAt50", "ndcgAt100", "recallAt10", "recallAt20", "recallAt50", "recallAt100"];

/** Validation curves; each model keeps its colour (its place among `all`) in every chart of the view. */
function curvesChart(parent, title, models, all) {
  chart(parent, title, {
    type: "line",
    data: { datasets: models.map((m) => ({ label: `model ${m.id} (${m.variant})`, borderColor: COLORS[all.indexOf(m) % COLORS.length], data: m.trainingCurve.map((e) => ({ x: e.epoch, y: e.valNdcg100 })) })) },
    options: { parsing: false, scales: { x: { type: "linear", ticks: { stepSize: 1 }, title: { display: true, text: "epoch" } }, y: { title: { display: true, text: "NDCG@100" } } } },
  }, models.map((m) => m.trainingCurve.map((e) => [e.epoch, e.valNdcg100])));
}

function lossChart(parent, m) {
  chart(parent, `Loss terms per epoch — model ${m.id} (${m.variant})`, {
    type: "line",
    data: { datasets: LOSS_TERMS.map((t, i) => ({
      label: t,
      borderColor: COLORS[i % COLORS.length],
      // A logarithmic axis cannot show 0 (VCM-Se has no cross terms): such points are left out.
      data: m.trainingCurve.map((e) => ({ x: e.epoch, y: e[t] > 0 ? e[t] : null })),
    })) },
    options: { parsing: false, scales: { x: { type: "linear", ticks: { stepSize: 1 }, title: { display: true, text: "epoch" } }, y: { type: "logarithmic" } } },
  }, LOSS_TERMS.map((t) => m.trainingCurve.map((e) => [e.epoch, e[t]])));
}

async function comparison(ctx, models, a, b) {
  const box = el("section", { id: "model-comparison" });
  ctx.root.appendChild(box);
  const first = models.find((m) => m.id === a);
  const second = models.find((m) => m.id === b);
  if (!first || !second) return;
  box.appendChild(el("h3", { text: `Model ${a} (${first.variant}) against model ${b} (${second.variant})` }));
  curvesChart(box, `Validation NDCG@100 per epoch — model ${a} against model ${b}`, [first, second], models);
  table(box, ["test metric", `model ${a}`, `model ${b}`], TEST_METRICS.map((k) => [k.replace("ndcgAt", "NDCG@").replace("recallAt", "Recall@"), fixed(first.testMetrics && first.testMetrics[k], 4), fixed(second.testMetrics && second.testMetrics[k], 4)]), { id: "compare-test-metrics" });
  const d = await gql(COMPARE, { a, b });
  const c = d.compareModels;
  box.appendChild(el("p", { text: `Paired t-test over the ${c.users} test users both models rank (difference: model ${a} minus model ${b}).` }));
  table(box, ["metric", { text: `mean, model ${a}`, num: true }, { text: `mean, model ${b}`, num: true }, { text: "difference", num: true }, { text: "t", num: true }, { text: "df", num: true }, { text: "p", num: true }], c.metrics.map((m) => [
    m.metric, fixed(m.meanModel, 4), fixed(m.meanCompared, 4), fixed(m.difference, 4), fixed(m.statistic, 3), m.df, m.pValue < 1e-4 ? m.pValue.toExponential(1) : fixed(m.pValue, 4),
  ]), { id: "compare-ttest" });
}

export async function renderModels(ctx) {
  const { root, params, dataset } = ctx;
  const d = await gql(MODELS, { n: dataset.name });
  const models = d.dataset.models;
  root.appendChild(el("h2", { text: `Models of ${d.dataset.name}` }));
  const curved = models.filter((m) => m.trainingCurve.length > 0);
  if (curved.length === 0) root.appendChild(el("p", { text: "No trained model with a training curve yet." }));
  else curvesChart(root, `Validation NDCG@100 per epoch — ${d.dataset.name}`, curved, models);
  table(root, ["model", "variant", "status", "trained", { text: "epochs", num: true }, { text: "best validation NDCG@100", num: true }, { text: "test NDCG@10", num: true }, { text: "test Recall@20", num: true }, "views"], models.map((m) => {
    const best = m.trainingCurve.reduce((b, e) => Math.max(b, e.valNdcg100), -Infinity);
    const views = m.status === "READY" ? el("span", {}, [ctx.link("cohorts", { view: "cohorts", model: m.id }), " · ", ctx.link("users", { view: "user", model: m.id })]) : null;
    return [m.id, m.variant, m.status, when(m.createdAt), m.trainingCurve.length, Number.isFinite(best) ? best.toFixed(4) : null, fixed(m.testMetrics && m.testMetrics.ndcgAt10, 4), fixed(m.testMetrics && m.testMetrics.recallAt20, 4), views];
  }), { id: "models-table" });

  // Any two ready models: chosen here, kept in the address as a and b.
  const ready = models.filter((m) => m.status === "READY");
  if (ready.length >= 2) {
    root.appendChild(el("h3", { text: "Compare two models" }));
    const pick = (id, label, value) => {
      const select = el("select", { id, "aria-label": label }, ready.map((m) => el("option", { value: m.id, text: ctx.modelLabel(m) })));
      select.value = value;
      return select;
    };
    const a = pick("compare-a", "First model", params.get("a") || params.get("model") || ready[0].id);
    const b = pick("compare-b", "Second model", params.get("b") || params.get("compare") || ready.find((m) => m.id !== a.value).id);
    const form = el("form", { class: "controls", id: "compare-form" }, [el("label", {}, ["First ", a]), el("label", {}, ["second ", b]), el("button", { type: "submit", text: "Compare" })]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void ctx.navigate({ a: a.value, b: b.value });
    });
    root.appendChild(form);
    if (params.get("a") && params.get("b")) {
      if (params.get("a") === params.get("b")) root.appendChild(el("p", { class: "note", text: "Pick two different models to compare." }));
      else await comparison(ctx, models, params.get("a"), params.get("b"));
    }
  }

  for (const m of curved) lossChart(root, m);
}
