// User view: a user's history (clicked items, split marked, most recent first where reviews give times)
// beside each model's top words and recommendations with both kinds of reason (words and clicks, with
// their effects), highlighted reviews, and a what-if panel that ranks again for a changed history.
import { el, fall, gql, highlightedReview, itemName, table, userName, wordChart } from "./api.js";

const USERS = /* GraphQL */ `query DashboardUsers($d: String!) {
  dataset(name: $d) {
    users(orderBy: ACTIVITY, direction: DESC, first: 20) { totalCount edges { node { id externalId name trainClickCount testClickCount reviewCount } } }
  }
}`;
const USER = /* GraphQL */ `query DashboardUser($u: ID!) {
  user(id: $u) {
    id externalId name clickCount trainClickCount validationClickCount testClickCount reviewCount
    clicks(first: 100) { totalCount edges { node { split item { id externalId title } } } }
    train: clicks(first: 100, split: [TRAIN]) { totalCount edges { node { item { id externalId title } } } }
    times: reviews(first: 100) { edges { node { time item { id } } } }
    reviews(first: 2) { edges { node { text item { id externalId title } } } }
  }
}`;
// One model's column is one document of its own, so that a model that cannot answer part of it (a
// popularity baseline has no words) leaves the history and the other column drawn.
const USER_MODEL = /* GraphQL */ `query DashboardUserModel($u: ID!, $m: ID!) {
  user(id: $u) {
    topWords(modelId: $m, k: 12) { word probability }
    recommendations(modelId: $m, k: 8) {
      rank score item { id externalId title }
      explanation(k: 3) { words { word effect weight } clicks { effect item { id externalId title } } clickReason { kind historyEffect priorRank } }
    }
    reviews(first: 2) { edges { node { highlights(modelId: $m) { start end mark { probability level } } } } }
  }
}`;
// What every model answers, asked when the column's document was refused: its ranking alone.
const USER_RANKING = /* GraphQL */ `query DashboardUserRanking($u: ID!, $m: ID!) {
  user(id: $u) { recommendations(modelId: $m, k: 8) { rank score item { id externalId title } } }
}`;
const WHAT_IF = /* GraphQL */ `query DashboardWhatIf($m: ID!, $clicks: [String!]!, $text: String) {
  recommendFor(modelId: $m, clicks: $clicks, text: $text, k: 8) {
    source knownItemCount unknownItemIds unknownTokenCount
    recommendations { rank score item { id externalId title } }
  }
}`;

/** How many items the what-if panel offers to add: the current top ones. */
const WHAT_IF_CANDIDATES = 8;

function pickUser(ctx) {
  return gql(USERS, { d: ctx.dataset.name }).then((d) => {
    const users = d.dataset.users;
    ctx.root.appendChild(el("h2", { text: `Most active users of ${ctx.dataset.name}` }));
    ctx.root.appendChild(el("p", { class: "note", text: `${users.totalCount} users; find any of them with the search box above.` }));
    table(ctx.root, ["user", { text: "training clicks", num: true }, { text: "test clicks", num: true }, { text: "reviews", num: true }], users.edges.map((e) => [
      ctx.link(userName(e.node), { view: "user", user: e.node.id }), e.node.trainClickCount, e.node.testClickCount, e.node.reviewCount,
    ]), { id: "user-list" });
  });
}

/** The history, most recent first where the user's reviews of the items give times, the rest in stored order. */
function historyTable(ctx, user) {
  const times = new Map();
  for (const e of user.times.edges) if (e.node.item && e.node.time !== null) times.set(e.node.item.id, Math.max(e.node.time, times.get(e.node.item.id) || 0));
  const rows = user.clicks.edges.map((e, order) => ({ click: e.node, time: times.get(e.node.item.id), order }));
  rows.sort((x, y) => (x.time === undefined ? 1 : 0) - (y.time === undefined ? 1 : 0) || (y.time || 0) - (x.time || 0) || x.order - y.order);
  const section = el("section", { id: "history" }, [
    el("h3", { text: "History" }),
    el("p", { class: "note", text: `${user.clickCount} clicks: ${user.trainClickCount} training, ${user.validationClickCount} validation, ${user.testClickCount} test.` }),
  ]);
  if (user.clicks.totalCount > user.clicks.edges.length) section.appendChild(el("p", { class: "note", text: `The first ${user.clicks.edges.length} are listed.` }));
  table(section, ["item", "split", "reviewed"], rows.map((r) => [
    ctx.link(itemName(r.click.item), { view: "item", item: r.click.item.id }),
    r.click.split.toLowerCase(),
    r.time === undefined ? null : new Date(r.time * 1000).toISOString().slice(0, 10),
  ]), { id: "history-table" });
  return section;
}

/** Why an item is recommended: its words (with effects) and clicks (with effects), or the kind of click reason. */
function reasons(ctx, explanation) {
  const box = el("div");
  if (explanation.words.length > 0) {
    box.appendChild(el("span", { class: "reason reason-words", text: `words: ${explanation.words.map((w) => (w.effect === null ? w.word : `${w.word} (${fall(w.effect)})`)).join(", ")}` }));
  }
  if (explanation.clicks.length > 0) {
    const line = el("span", { class: "reason reason-clicks" }, ["clicks: "]);
    explanation.clicks.forEach((c, i) => {
      if (i > 0) line.appendChild(document.createTextNode(", "));
      line.appendChild(ctx.link(itemName(c.item), { view: "item", item: c.item.id }));
      line.appendChild(document.createTextNode(` (${fall(c.effect)})`));
    });
    box.appendChild(line);
  } else if (explanation.clickReason) {
    const r = explanation.clickReason;
    const text = r.kind === "HISTORY"
      ? `the whole history together (${fall(r.historyEffect)} without it)`
      : r.kind === "POPULARITY" ? `popular for anyone (rank ${r.priorRank} with no clicks)` : r.kind.toLowerCase();
    box.appendChild(el("span", { class: "reason reason-kind", text: `clicks: ${text}` }));
  }
  if (box.childElementCount === 0) box.appendChild(el("span", { class: "reason reason-kind", text: "no reason found" }));
  return box;
}

/** What one model says about the user; where it refuses the whole, the API's sentence and its ranking alone (if even that is refused, none). */
async function columnData(userId, modelId) {
  try {
    return { full: (await gql(USER_MODEL, { u: userId, m: modelId })).user, error: null, ranking: null };
  } catch (error) {
    const ranking = await gql(USER_RANKING, { u: userId, m: modelId }).then((d) => d.user.recommendations, () => []);
    return { full: null, error: error.message, ranking };
  }
}

/** One model's column: top words, recommendations with reasons, the reviews highlighted (drawn in column order, so charts keep it). */
function column(ctx, user, modelId, data) {
  const col = el("section", { class: "column", "data-model": modelId }, [el("h3", { text: `Model ${modelId}` })]);
  const link = (item) => ctx.link(itemName(item), { view: "item", item: item.id });
  if (data.full === null) {
    col.appendChild(el("p", { class: "error", text: data.error }));
    if (data.ranking.length > 0) table(col, ["#", "item", "score"], data.ranking.map((r) => [r.rank, link(r.item), { text: r.score.toExponential(2), num: true }]), { class: "recommendations" });
    return { node: col, recommendations: data.ranking };
  }
  const m = data.full;
  wordChart(col, `Top words p(w|u) — model ${modelId}`, m.topWords, (w) => w.probability, "p(w|u)");
  table(col, ["#", "item", "score", "why (effect: the score's fall without it)"], m.recommendations.map((r) => [
    r.rank, link(r.item), { text: r.score.toExponential(2), num: true }, reasons(ctx, r.explanation),
  ]), { class: "recommendations" });
  user.reviews.edges.forEach((edge, i) => {
    col.appendChild(edge.node.item ? el("h4", {}, ["Review of ", link(edge.node.item)]) : el("h4", { text: "Text" }));
    col.appendChild(highlightedReview(edge.node.text, m.reviews.edges[i].node.highlights, (t) => t.mark));
  });
  return { node: col, recommendations: m.recommendations };
}

function whatIfPanel(ctx, user, modelId, current) {
  const panel = el("section", { class: "whatif", id: "whatif" }, [
    el("h3", { text: `What if — model ${modelId}` }),
    el("p", { class: "note", text: "Untick training clicks to remove them, tick recommended items to add them as clicks, or type a text; then rank again." }),
  ]);
  const list = el("ul");
  const box = (item, checked, kind) => {
    const input = el("input", { type: "checkbox", value: item.externalId, "data-kind": kind });
    input.checked = checked;
    list.appendChild(el("li", {}, [el("label", {}, [input, ` ${kind === "click" ? "" : "add "}${itemName(item)}`])]));
  };
  for (const e of user.train.edges) box(e.node.item, true, "click");
  for (const r of current.slice(0, WHAT_IF_CANDIDATES)) box(r.item, false, "add");
  const text = el("textarea", { id: "whatif-text", rows: 2, "aria-label": "Text", placeholder: "Optional: a text read as the user's reviews" });
  const result = el("div", { id: "whatif-result" });
  const form = el("form", { id: "whatif-form" }, [list, text, el("div", {}, [el("button", { type: "submit", text: "Rank again" })]), result]);
  const before = new Map(current.map((r) => [r.item.externalId, r.rank]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const clicks = Array.from(list.querySelectorAll("input:checked")).map((i) => i.value);
    const typed = text.value.trim();
    result.removeAttribute("data-ready");
    result.replaceChildren(el("p", { class: "note", text: "Ranking…" }));
    gql(WHAT_IF, { m: modelId, clicks, text: typed === "" ? null : typed }).then((d) => {
      const r = d.recommendFor;
      result.replaceChildren(el("p", { text: `Ranked from ${r.knownItemCount} known clicks${typed ? " and the text" : ""} (${r.source.toLowerCase()})${r.unknownItemIds.length ? `; unknown to the model: ${r.unknownItemIds.join(", ")}` : ""}.` }));
      table(result, ["#", "item", "score", "before"], r.recommendations.map((x) => {
        const was = before.get(x.item.externalId);
        const move = was === undefined ? "new" : was === x.rank ? "=" : was > x.rank ? `↑ from ${was}` : `↓ from ${was}`;
        return [x.rank, ctx.link(itemName(x.item), { view: "item", item: x.item.id }), x.score.toExponential(2), move];
      }));
      window.vcmDashboard.whatIf = { clicks, text: typed, ranking: r.recommendations.map((x) => x.item.externalId) };
      result.setAttribute("data-ready", "true");
    }, (error) => {
      result.replaceChildren(el("p", { class: "error", text: error.message }));
      result.setAttribute("data-ready", "error");
    });
  });
  panel.appendChild(form);
  return panel;
}

export async function renderUser(ctx) {
  const { root, params } = ctx;
  const id = params.get("user");
  if (!id) return pickUser(ctx);
  const model = params.get("model");
  if (!model) {
    root.appendChild(el("p", { text: "No ready model in this dataset: train one (vcm train) to see recommendations." }));
    return undefined;
  }
  const compare = params.get("compare") && params.get("compare") !== model ? params.get("compare") : null;
  const user = (await gql(USER, { u: id })).user;
  root.appendChild(el("h2", { text: `User ${userName(user)}` }));
  root.appendChild(el("p", { class: "note", text: `${user.reviewCount} reviews. Top words: click2review p(w|u) from the training clicks; effects: how much the item's score falls without that word or click.` }));
  // The history beside each model's recommendations, so a reason's clicks can be found in it.
  const row = el("div", { class: "columns" }, [historyTable(ctx, user)]);
  root.appendChild(row);
  const models = compare ? [model, compare] : [model];
  const answers = await Promise.all(models.map((m) => columnData(user.id, m)));
  const columns = models.map((m, i) => column(ctx, user, m, answers[i]));
  for (const c of columns) row.appendChild(c.node);
  root.appendChild(whatIfPanel(ctx, user, model, columns[0].recommendations));
  return undefined;
}
