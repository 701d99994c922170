// Item view: an item's title, categories and popularity, the words its reviews use most against the
// corpus, the users a model recommends it to most, and the reasons of those recommendations aggregated.
import { el, fall, fixed, gql, itemName, table, userName, wordChart } from "./api.js";

const ITEMS = /* GraphQL */ `query DashboardItems($d: String!) {
  dataset(name: $d) {
    items(orderBy: POPULARITY, direction: DESC, first: 20) { totalCount edges { node { id externalId title categories trainClickCount clickCount } } }
  }
}`;
const ITEM = /* GraphQL */ `query DashboardItem($i: ID!) {
  item(id: $i) {
    id externalId title categories trainClickCount clickCount
    reviews(first: 3) { totalCount edges { node { text rating user { id externalId name } } } }
  }
}`;
const WORDS = /* GraphQL */ `query DashboardItemWords($i: ID!) {
  item(id: $i) { characteristicWords(k: 12) { word lift count } }
}`;
const AUDIENCE = /* GraphQL */ `query DashboardItemAudience($i: ID!, $m: ID!) {
  item(id: $i) {
    recommendedTo(modelId: $m, k: 10) {
      candidates usersScored
      users { rank score user { id externalId name } }
      reasons { unexplained words { word users meanWeight } clicks { users meanEffect item { id externalId title } } }
    }
  }
}`;

function pickItem(ctx) {
  return gql(ITEMS, { d: ctx.dataset.name }).then((d) => {
    const items = d.dataset.items;
    ctx.root.appendChild(el("h2", { text: `Most popular items of ${ctx.dataset.name}` }));
    ctx.root.appendChild(el("p", { class: "note", text: `${items.totalCount} items; find any of them with the search box above.` }));
    table(ctx.root, ["item", "categories", { text: "training clicks", num: true }, { text: "clicks", num: true }], items.edges.map((e) => [
      ctx.link(itemName(e.node), { view: "item", item: e.node.id }), e.node.categories.join(", "), e.node.trainClickCount, e.node.clickCount,
    ]), { id: "item-list" });
  });
}

async function audience(ctx, parent, itemId, model) {
  const section = el("section", { id: "audience", class: "column" }, [el("h3", { text: `Recommended to — model ${model}` })]);
  parent.appendChild(section);
  // A model that cannot explain (a popularity baseline) is refused with a sentence, shown in place of the audience.
  const a = await gql(AUDIENCE, { i: itemId, m: model }).then((d) => d.item.recommendedTo, (error) => {
    section.appendChild(el("p", { class: "error", text: error.message }));
    return null;
  });
  if (a === null) return;
  section.appendChild(el("p", { class: "note", text: `The ${a.users.length} users who rank it highest among the ${a.usersScored} users scored (${a.candidates} candidates).` }));
  table(section, ["user", { text: "rank", num: true }, { text: "score", num: true }], a.users.map((u) => [ctx.link(userName(u.user), { view: "user", user: u.user.id }), u.rank, u.score.toExponential(2)]), { id: "audience-table" });
  const r = a.reasons;
  section.appendChild(el("h4", { text: "Why, over those users" }));
  table(section, ["word", { text: "users", num: true }, { text: "mean weight", num: true }], r.words.map((w) => [w.word, w.users, fixed(w.meanWeight, 3)]), { id: "reason-words" });
  table(section, ["clicked item", { text: "users", num: true }, { text: "mean effect", num: true }], r.clicks.map((c) => [ctx.link(itemName(c.item), { view: "item", item: c.item.id }), c.users, { text: fall(c.meanEffect), num: true }]), { id: "reason-clicks" });
  section.appendChild(el("p", { class: "note", text: `${r.unexplained} of them with neither a word nor a click as reason.` }));
}

export async function renderItem(ctx) {
  const { root, params } = ctx;
  const id = params.get("item");
  if (!id) return pickItem(ctx);
  const item = (await gql(ITEM, { i: id })).item;
  root.appendChild(el("h2", { text: `Item ${itemName(item)}` }));
  table(root, ["external id", "categories", { text: "popularity (training clicks)", num: true }, { text: "clicks, all splits", num: true }], [[item.externalId, item.categories.join(", ") || null, item.trainClickCount, item.clickCount]], { id: "item-facts" });
  // The item's own words beside the users it is recommended to.
  const row = el("div", { class: "columns" });
  const own = el("section", { class: "column" }, [el("h3", { text: "Its words" })]);
  row.appendChild(own);
  root.appendChild(row);
  const words = (await gql(WORDS, { i: item.id })).item.characteristicWords;
  if (words.length > 0) {
    wordChart(own, "Words its reviews use most against the corpus (lift)", words, (w) => w.lift, "lift");
    table(own, ["word", { text: "lift", num: true }, { text: "count", num: true }], words.map((w) => [w.word, fixed(w.lift, 2), w.count]), { id: "item-words" });
  } else own.appendChild(el("p", { class: "note", text: "No review text about this item." }));
  for (const e of item.reviews.edges) {
    own.appendChild(el("h4", {}, ["Review by ", ctx.link(userName(e.node.user), { view: "user", user: e.node.user.id }), e.node.rating === null ? "" : ` (rating ${e.node.rating})`]));
    own.appendChild(el("p", { class: "review", text: e.node.text }));
  }
  if (params.get("model")) await audience(ctx, row, item.id, params.get("model"));
  return undefined;
}
