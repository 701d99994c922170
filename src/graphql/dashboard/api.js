// What every view of the dashboard shares: the GraphQL call (through sign-in.js, which adds the key a
// server may need) and DOM helpers that put the data into the page as text only, never as markup.
//
// Every document the page sends is a constant of one of the dashboard's modules, a named operation in a
// /* GraphQL */ template without interpolation: `npm run persisted-operations` extracts them into the
// manifest that `vcm serve --persisted-only` accepts, and a test fails when it is stale. Values from the
// page (ids, search text) travel only as variables, so nothing on the page can change what is asked.

export const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

/** Sends one registered operation; resolves with its data, rejects with the server's first error sentence. */
export async function gql(query, variables) {
  const response = await window.vcmSignIn.fetch(new URL("/graphql", window.location.href).toString(), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables: variables || {} }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
  return body.data;
}

/** An element; `text` becomes its textContent, other attributes are set as given, children are appended. */
export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children || []) if (child !== null && child !== undefined) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  return node;
}

/** A number with d decimals, or null (shown as "–") when there is none. */
export function fixed(value, d) {
  return value === null || value === undefined ? null : Number(value).toFixed(d);
}

/** A relative fall of a score (an explanation's effect), as "−1.2 %" kept on one line. */
export function fall(effect) {
  const percent = effect * 100;
  // A fall under 0.1 % keeps one significant digit rather than reading as "−0.0 %".
  return `−${percent >= 0.1 ? percent.toFixed(1) : percent.toPrecision(1)}\u00a0%`;
}

/** A date-time as "YYYY-MM-DD HH:MM" (UTC), or null. */
export function when(iso) {
  return iso ? String(iso).slice(0, 16).replace("T", " ") : null;
}

/** A cell that reads as a number (fixed or exponential), right-aligned like numbers. */
const NUMBER = /^[-−]?\d+(\.\d+)?(e[-+]\d+)?$/;

/**
 * A table; a cell is a string or number (shown as text), null ("–"), a Node, or { node | text, num }
 * (num: right-aligned). Wrapped so that a wide table scrolls instead of widening the page.
 */
export function table(parent, header, rows, attrs) {
  const cell = (tag, value) => {
    const spec = value !== null && typeof value === "object" && !(value instanceof Node) ? value : { text: value };
    const td = el(tag, spec.num || typeof spec.text === "number" || NUMBER.test(String(spec.text)) ? { class: "num" } : {});
    if (spec.node) td.appendChild(spec.node);
    else td.textContent = spec.text === null || spec.text === undefined ? "–" : String(spec.text);
    return td;
  };
  const t = el("table", attrs || {}, [el("thead", {}, [el("tr", {}, header.map((h) => cell("th", h)))])]);
  const body = el("tbody");
  for (const row of rows) body.appendChild(el("tr", {}, row.map((c) => (c instanceof Node ? el("td", {}, [c]) : cell("td", c)))));
  t.appendChild(body);
  parent.appendChild(el("div", { class: "table-wrap" }, [t]));
  return t;
}

/** A Chart.js chart with a caption; `points` (the numbers behind it) are recorded in window.vcmDashboard.charts. */
export function chart(parent, title, config, points) {
  const canvas = el("canvas");
  parent.appendChild(el("figure", { class: "chart" }, [el("figcaption", { text: title }), el("div", { class: "chart-box" }, [canvas])]));
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
  new window.Chart(canvas.getContext("2d"), config);
  window.vcmDashboard.charts.push({ title, points });
}

/** A horizontal bar chart of words and their values. */
export function wordChart(parent, title, words, valueOf, label) {
  chart(parent, title, {
    type: "bar",
    data: { labels: words.map((w) => w.word), datasets: [{ label, backgroundColor: COLORS[0], data: words.map(valueOf) }] },
    options: { indexAxis: "y" },
  }, [words.map(valueOf)]);
}

/** A review's text with its highlighted tokens as spans (levels as classes, probabilities as titles). */
export function highlightedReview(text, tokens, markOf) {
  const p = el("p", { class: "review" });
  let at = 0;
  for (const token of tokens) {
    if (token.start > at) p.appendChild(document.createTextNode(text.slice(at, token.start)));
    const mark = markOf(token);
    p.appendChild(el("span", { class: mark ? `level-${mark.level.toLowerCase()}` : "", title: mark ? `p = ${mark.probability.toExponential(2)}` : "", text: text.slice(token.start, token.end) }));
    at = token.end;
  }
  if (at < text.length) p.appendChild(document.createTextNode(text.slice(at)));
  return p;
}

/** An item's name for people: its title, else its external id. */
export function itemName(item) {
  return item.title || item.externalId;
}

/** A user's name for people: the name and the external id, or the external id. */
export function userName(user) {
  return user.name ? `${user.name} (${user.externalId})` : user.externalId;
}
