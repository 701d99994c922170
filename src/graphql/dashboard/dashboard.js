// The dashboard's client: plain browser JavaScript over the public GraphQL API only (it reads: an
// analyst key is enough where the server needs one, sent by sign-in.js), with Chart.js (served from
// node_modules) for the charts. Three views, chosen by the query string: ?view=models&dataset=NAME,
// ?view=cohorts&model=ID&compare=ID[&grouping=EQUAL_INTERACTIONS&groups=5], ?view=user&user=ID&model=ID&compare=ID.
"use strict";
(function () {
  var params = new URLSearchParams(window.location.search);
  var root = document.getElementById("dashboard");
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];
  // What the page drew, for tests and for anyone who wants the numbers behind a chart.
  window.vcmDashboard = { view: params.get("view") || "models", charts: [], ready: false, error: null };

  // Every document the page sends is one of these constants, each a named operation in a /* GraphQL */
  // template without interpolation: `npm run persisted-operations` extracts them into the manifest that
  // `vcm serve --persisted-only` accepts (persisted-operations.json beside this file; a test fails when
  // it is stale). The link's values travel only as variables, so no link can change what is asked.
  var ALL_MODELS = /* GraphQL */ `query DashboardModels {
  datasets { name models { id variant status trainingCurve { epoch valNdcg100 reconX reconY klPriorX klPriorY klCrossX klCrossY } } }
}`;
  var DATASET_MODELS = /* GraphQL */ `query DashboardDatasetModels($n: String!) {
  dataset(name: $n) { name models { id variant status trainingCurve { epoch valNdcg100 reconX reconY klPriorX klPriorY klCrossX klCrossY } } }
}`;
  var COHORTS = /* GraphQL */ `query DashboardCohorts($m: ID!, $c: ID, $g: CohortGrouping!, $n: Int!) {
  cohorts(modelId: $m, compareTo: $c, grouping: $g, groups: $n) {
    testUsers
    cohorts { label userCount figures { ...DashboardCohortFigures } compared { ...DashboardCohortFigures } }
  }
}
fragment DashboardCohortFigures on CohortFigures {
  meanCapacity ndcg10 beyondAccuracy { coverage aplt novelty }
}`;
  var USER = /* GraphQL */ `query DashboardUser($u: ID!, $m: ID!) {
  user(id: $u) {
    externalId name
    w0: topWords(modelId: $m, k: 12) { word probability }
    r0: recommendations(modelId: $m, k: 8) { rank score item { externalId title } explanation(k: 3) { words { word } } }
    reviews(first: 2) { edges { node { text highlights(modelId: $m) { start end mark { probability level } compared { probability level } } } } }
  }
}`;
  var USER_COMPARED = /* GraphQL */ `query DashboardUserCompared($u: ID!, $m: ID!, $c: ID!) {
  user(id: $u) {
    externalId name
    w0: topWords(modelId: $m, k: 12) { word probability }
    r0: recommendations(modelId: $m, k: 8) { rank score item { externalId title } explanation(k: 3) { words { word } } }
    w1: topWords(modelId: $c, k: 12) { word probability }
    r1: recommendations(modelId: $c, k: 8) { rank score item { externalId title } explanation(k: 3) { words { word } } }
    reviews(first: 2) { edges { node { text highlights(modelId: $m, compareTo: $c) { start end mark { probability level } compared { probability level } } } } }
  }
}`;

  function gql(query, variables) {
    return window.vcmSignIn.fetch(new URL("../graphql", window.location.href).toString(), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
        return body.data;
      });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function chart(parent, title, config, points) {
    var box = el("figure", { class: "chart" }, [el("figcaption", { text: title })]);
    var canvas = el("canvas", { width: "640", height: "300" });
    box.appendChild(canvas);
    parent.appendChild(box);
    config.options = Object.assign({ animation: false, responsive: false }, config.options || {});
    new window.Chart(canvas.getContext("2d"), config);
    window.vcmDashboard.charts.push({ title: title, points: points });
  }

  function table(parent, header, rows) {
    var t = el("table", {}, [el("thead", {}, [el("tr", {}, header.map(function (h) { return el("th", { text: h }); }))])]);
    var body = el("tbody");
    rows.forEach(function (r) { body.appendChild(el("tr", {}, r.map(function (c) { return el("td", { text: c === null || c === undefined ? "–" : String(c) }); }))); });
    t.appendChild(body);
    parent.appendChild(t);
  }

  function fixed(v, d) { return v === null || v === undefined ? null : Number(v).toFixed(d); }

  function modelsView() {
    var name = params.get("dataset");
    var q = name
      ? gql(DATASET_MODELS, { n: name }).then(function (d) { return [d.dataset]; })
      : gql(ALL_MODELS).then(function (d) { return d.datasets; });
    return q.then(function (datasets) {
      datasets.forEach(function (ds) {
        root.appendChild(el("h2", { text: "Models of " + ds.name }));
        var models = ds.models.filter(function (m) { return m.trainingCurve.length > 0; });
        if (models.length === 0) { root.appendChild(el("p", { text: "No trained model with a training curve yet." })); return; }
        chart(root, "Validation NDCG@100 per epoch — " + ds.name, {
          type: "line",
          data: { datasets: models.map(function (m, i) {
            return { label: "model " + m.id + " (" + m.variant + ")", borderColor: COLORS[i % COLORS.length], data: m.trainingCurve.map(function (e) { return { x: e.epoch, y: e.valNdcg100 }; }) };
          }) },
          options: { parsing: false, scales: { x: { type: "linear", ticks: { stepSize: 1 }, title: { display: true, text: "epoch" } }, y: { title: { display: true, text: "NDCG@100" } } } },
        }, models.map(function (m) { return m.trainingCurve.map(function (e) { return [e.epoch, e.valNdcg100]; }); }));
        models.forEach(function (m) {
          var terms = ["reconX", "reconY", "klPriorX", "klPriorY", "klCrossX", "klCrossY"];
          chart(root, "Loss terms per epoch — model " + m.id + " (" + m.variant + ")", {
            type: "line",
            data: { datasets: terms.map(function (t, i) {
              // A logarithmic axis cannot show 0 (VCM-Se has no cross terms): such points are left out.
              return { label: t, borderColor: COLORS[i % COLORS.length], data: m.trainingCurve.map(function (e) { return { x: e.epoch, y: e[t] > 0 ? e[t] : null }; }) };
            }) },
            options: { parsing: false, scales: { x: { type: "linear", ticks: { stepSize: 1 }, title: { display: true, text: "epoch" } }, y: { type: "logarithmic" } } },
          }, terms.map(function (t) { return m.trainingCurve.map(function (e) { return [e.epoch, e[t]]; }); }));
        });
        table(root, ["model", "variant", "status", "epochs", "best validation NDCG@100"], ds.models.map(function (m) {
          var best = m.trainingCurve.reduce(function (b, e) { return Math.max(b, e.valNdcg100); }, -Infinity);
          return [m.id, m.variant, m.status, m.trainingCurve.length, isFinite(best) ? best.toFixed(4) : null];
        }));
      });
    });
  }

  function cohortsView() {
    var model = params.get("model");
    var compare = params.get("compare");
    var vars = { m: model, c: compare, g: params.get("grouping") || "BOUNDARIES", n: params.has("groups") ? Number(params.get("groups")) : 5 };
    return gql(COHORTS, vars).then(function (d) {
      var a = d.cohorts;
      root.appendChild(el("h2", { text: "Cohorts by activity — model " + model + (compare ? " against model " + compare : "") + " (" + a.testUsers + " test users)" }));
      var labels = a.cohorts.map(function (c) { return c.label; });
      var series = [{ label: "NDCG@10, model " + model, values: a.cohorts.map(function (c) { return c.figures.ndcg10; }) }];
      if (compare) series.push({ label: "NDCG@10, model " + compare, values: a.cohorts.map(function (c) { return c.compared ? c.compared.ndcg10 : null; }) });
      chart(root, "NDCG@10 per activity cohort", {
        type: "bar",
        data: { labels: labels, datasets: series.map(function (s, i) { return { label: s.label, backgroundColor: COLORS[i], data: s.values }; }) },
      }, series.map(function (s) { return s.values; }));
      var caps = [{ label: "ĉu, model " + model, values: a.cohorts.map(function (c) { return c.figures.meanCapacity; }) }];
      if (compare) caps.push({ label: "ĉu, model " + compare, values: a.cohorts.map(function (c) { return c.compared ? c.compared.meanCapacity : null; }) });
      chart(root, "Mean capacity ĉu per activity cohort", {
        type: "bar",
        data: { labels: labels, datasets: caps.map(function (s, i) { return { label: s.label, backgroundColor: COLORS[i + 2], data: s.values }; }) },
      }, caps.map(function (s) { return s.values; }));
      // Coverage and APLT are both shares from 0 to 1, so they share one axis.
      var beyond = [];
      [[model, "figures"], [compare, "compared"]].forEach(function (m) {
        if (!m[0]) return;
        beyond.push({ label: "coverage@10, model " + m[0], values: a.cohorts.map(function (c) { return c[m[1]] ? c[m[1]].beyondAccuracy.coverage : null; }) });
        beyond.push({ label: "APLT@10, model " + m[0], values: a.cohorts.map(function (c) { return c[m[1]] ? c[m[1]].beyondAccuracy.aplt : null; }) });
      });
      chart(root, "Catalogue coverage and long-tail share (APLT) of the top 10 per activity cohort", {
        type: "bar",
        data: { labels: labels, datasets: beyond.map(function (s, i) { return { label: s.label, backgroundColor: COLORS[i % COLORS.length], data: s.values }; }) },
        options: { scales: { y: { min: 0, max: 1 } } },
      }, beyond.map(function (s) { return s.values; }));
      table(root, ["cohort", "users", "ĉu", "NDCG@10", "coverage@10", "APLT@10", "novelty@10"].concat(compare ? ["ĉu (" + compare + ")", "NDCG@10 (" + compare + ")"] : []), a.cohorts.map(function (c) {
        var b = c.figures.beyondAccuracy;
        var row = [c.label, c.userCount, fixed(c.figures.meanCapacity, 2), fixed(c.figures.ndcg10, 4), fixed(b.coverage, 4), fixed(b.aplt, 4), fixed(b.novelty, 2)];
        if (compare) row.push(fixed(c.compared && c.compared.meanCapacity, 2), fixed(c.compared && c.compared.ndcg10, 4));
        return row;
      }));
    });
  }

  // Column i shows model ids[i]; its fields are aliased by index (w0, r0, …), never by an id from the link.
  function userColumn(user, modelId, index) {
    var col = el("section", { class: "column" }, [el("h3", { text: "Model " + modelId })]);
    var words = user["w" + index];
    chart(col, "Top words p(w|u) — model " + modelId, {
      type: "bar",
      data: { labels: words.map(function (w) { return w.word; }), datasets: [{ label: "p(w|u)", backgroundColor: COLORS[0], data: words.map(function (w) { return w.probability; }) }] },
      options: { indexAxis: "y" },
    }, [words.map(function (w) { return w.probability; })]);
    var recs = user["r" + index];
    table(col, ["#", "item", "score", "why"], recs.map(function (r) {
      return [r.rank, r.item.title || r.item.externalId, r.score.toExponential(2), r.explanation.words.map(function (w) { return w.word; }).join(", ")];
    }));
    user.reviews.edges.forEach(function (edge) {
      var p = el("p", { class: "review" });
      var text = edge.node.text;
      var at = 0;
      edge.node.highlights.forEach(function (t) {
        if (t.start > at) p.appendChild(document.createTextNode(text.slice(at, t.start)));
        var mark = index === 1 ? t.compared : t.mark;
        p.appendChild(el("span", { class: mark ? "level-" + mark.level.toLowerCase() : "", title: mark ? "p = " + mark.probability.toExponential(2) : "" , text: text.slice(t.start, t.end) }));
        at = t.end;
      });
      if (at < text.length) p.appendChild(document.createTextNode(text.slice(at)));
      col.appendChild(p);
    });
    return col;
  }

  function userView() {
    var user = params.get("user");
    var model = params.get("model");
    var compare = params.get("compare");
    var ids = compare ? [model, compare] : [model];
    var variables = compare ? { u: user, m: model, c: compare } : { u: user, m: model };
    return gql(compare ? USER_COMPARED : USER, variables).then(function (d) {
      root.appendChild(el("h2", { text: "User " + (d.user.name || d.user.externalId) }));
      var row = el("div", { class: "columns" });
      ids.forEach(function (id, i) { row.appendChild(userColumn(d.user, id, i)); });
      root.appendChild(row);
    });
  }

  var views = { models: modelsView, cohorts: cohortsView, user: userView };
  var view = views[window.vcmDashboard.view] || modelsView;
  view()
    .then(function () { window.vcmDashboard.ready = true; root.setAttribute("data-ready", "true"); })
    .catch(function (error) {
      window.vcmDashboard.error = error.message;
      root.appendChild(el("p", { class: "error", text: error.message }));
      root.setAttribute("data-ready", "error");
    });
})();
