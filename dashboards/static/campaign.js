// Campaign page: progress charts, MAP-Elites grid, Pareto front, LLM spend, recent
// evaluations and the program table; polls /updates with a `since` cursor while running.
"use strict";

(function () {
  const main = document.getElementById("main");
  const key = EF.pathPart(1);
  const base = "/api/campaigns/" + encodeURIComponent(key);
  const state = { cursor: 0, status: null, table: { offset: 0, limit: 25, sort: "score", order: "desc" }, info: null };
  const slots = {};

  function slot(name, title, wide) {
    const body = EF.E("div", { id: "slot-" + name });
    const card = EF.E("section", { class: "card" + (wide ? " wide" : ""), id: "card-" + name }, EF.E("h2", { text: title }), body);
    slots[name] = body;
    return card;
  }

  function header(info) {
    const box = EF.E("div", { id: "summary" });
    box.appendChild(EF.E("h1", {}, info.name, " ", EF.statusBadge(info)));
    if (info.stale) {
      box.appendChild(EF.E("p", { class: "warn", id: "stale-note", text: "No controller is running this campaign: it is stored as running, " +
        "but no controller has renewed its lease (killed?). `evolve resume " + info.name + "` continues it." }));
    }
    const best = info.best_program ? EF.E("a", { href: "/programs/" + info.best_program, id: "best-link", text: EF.num(info.best_score) + " (#" + info.best_program + ")" }) : "–";
    box.appendChild(EF.E("div", { class: "stats" },
      EF.stat("problem", info.problem),
      EF.stat("evaluations", info.evaluated + (info.budget ? " / " + info.budget : "")),
      EF.stat("pending", String(info.pending)),
      EF.stat("correct", String(info.correct)),
      EF.stat("best score", best),
      EF.stat("LLM spend", info.llm_calls ? EF.money(info.spend_usd) + " · " + info.llm_calls + " calls" : "none"),
      EF.stat("started", EF.time(info.created_at)),
      EF.stat("finished", EF.time(info.finished_at)),
      info.reason ? EF.E("div", { class: "stat", id: "end-reason" }, EF.E("span", { class: "k", text: "ended because" }),
        EF.E("span", { class: "v", text: EF.reasonText(info.reason) })) : null,
    ));
    box.appendChild(EF.E("p", { class: "links" },
      EF.E("a", { href: "/campaigns/" + info.id + "/lineage", id: "lineage-link", text: "Lineage graph →" }),
      info.best_program ? EF.E("a", { href: "/campaigns/" + info.id + "/lineage?program=" + info.best_program, text: "Ancestry of the best →" }) : null));
    return box;
  }

  function layout(info) {
    EF.clear(main);
    EF.crumbs({ text: "campaigns", href: "/" }, { text: info.name });
    document.title = "evoforge · " + info.name;
    main.appendChild(header(info));
    main.appendChild(EF.E("div", { class: "cards" },
      slot("best-eval", "Best score over evaluations"),
      slot("best-time", "Best score over time"),
      slot("islands", "Best score per island"),
      slot("outcomes", "Outcome classes over time"),
      slot("rate", "Evaluations per second"),
      slot("grid", "MAP-Elites grid"),
      slot("pareto", "Pareto front"),
      slot("llm", "LLM spend and tokens"),
      slot("operators", "What each operator did"),
      slot("recent", "Recent evaluations", true),
      slot("programs", "Programs", true),
    ));
  }

  const fmtS = EF.sinceStart;
  // "yet" only while something may still come
  const noneYet = (what) => what + (state.info && state.info.status === "running" && !state.info.stale ? " yet." : ".");

  // The y range of the best-score charts: from a little below where the best score started,
  // so that a few very bad evaluations (or an island's bad first program) do not flatten the
  // progress into a line; lower points are drawn on the bottom edge, and the chart says so.
  function scoreFloor(best) {
    if (!best || !best.length) return null;
    const first = best[0][1], last = best[best.length - 1][1];
    const span = Math.max(last - first, Math.abs(first) * 0.1, 1e-9);
    return first - span;
  }

  async function loadSeries() {
    // partial=1: while the campaign's index loads, the server answers the best score over
    // evaluations at once ({partial: true}); the other charts follow once it is loaded
    const s = await EF.api(base + "/series", { partial: 1 });
    EF.clear(slots["best-eval"]);
    Charts.line(slots["best-eval"], [
      s.partial ? null : { name: "score of an evaluation (best per bucket)", points: s.scores, color: "#9aa5b8", dots: true },
      { name: "best so far", points: s.best_by_eval, color: "#2f6fde", step: true },
    ].filter(Boolean), { xLabel: "evaluations", xInteger: true, yFloor: scoreFloor(s.best_by_eval), label: "best score over evaluations", empty: noneYet("No correct evaluation") });
    if (s.partial) {
      for (const k of ["best-time", "islands", "outcomes", "rate"]) {
        EF.clear(slots[k]).appendChild(EF.E("p", { class: "muted loading", text: "loading…" }));
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return loadSeries();
    }
    EF.clear(slots["best-time"]);
    Charts.line(slots["best-time"], [{ name: "best so far", points: s.best_by_time, color: "#1c8c4e", step: true }],
      { xLabel: "time since start", xFormat: fmtS, xTime: true, xMin: 0, label: "best score over time", empty: noneYet("No correct evaluation") });
    EF.clear(slots.islands);
    Charts.line(slots.islands, Object.entries(s.per_island).map(([k, pts], i) => (
      { name: "island " + k, points: pts, color: EF.palette[i % EF.palette.length], step: true })),
    { xLabel: "evaluations", xInteger: true, yFloor: scoreFloor(s.best_by_eval), label: "per-island progress", empty: noneYet("No correct evaluation") });
    EF.clear(slots.outcomes);
    Charts.stacked(slots.outcomes, s.buckets, s.outcomes, { color: EF.outcomeColor, bucketWidth: s.bucket_s, xFormat: fmtS, xTime: true, xLabel: "time since start", label: "outcomes over time", empty: noneYet("No evaluation") });
    EF.clear(slots.rate);
    slots.rate.appendChild(EF.E("p", { class: "muted", text: "mean " + EF.num(s.mean_rate, 2) + " evaluations/s over " + s.evaluations + (s.evaluations === 1 ? " evaluation" : " evaluations") }));
    Charts.line(slots.rate, [{ name: "evaluations/s", points: s.buckets.map((b, i) => [b, s.rate[i]]), color: "#9b4dca" }],
      { xLabel: "time since start", xFormat: fmtS, xTime: true, xMin: 0, label: "evaluations per second" });
  }

  function selector(label, options, value, onchange) {
    const sel = EF.E("select", { "aria-label": label, onchange: (e) => onchange(e.target.value) },
      options.map((o) => EF.E("option", { value: o, text: o, selected: o === value })));
    return EF.E("label", {}, label, sel);
  }

  // bins null: the server's default, the cells the problem declared (else 10 bins); the
  // axes are the server's default until chosen (the problem's declared ones first)
  const gridState = { x: null, y: null, bins: null };
  const DECLARED = "as declared";
  async function loadGrid() {
    const g = await EF.api(base + "/grid", gridState);
    const box = EF.clear(slots.grid);
    if (g.features.length) {
      const bins = g.declared && g.declared.length ? [DECLARED, "5", "10", "20", "40"] : ["5", "10", "20", "40"];
      const binsNow = gridState.bins === null ? (g.declared && g.declared.length ? DECLARED : "10") : String(gridState.bins);
      const ys = g.y.name === null ? ["–", ...g.features.filter((f) => f !== g.x.name)] : g.features;
      gridState.x = g.x.name; gridState.y = g.y.name;
      box.appendChild(EF.E("div", { class: "controls" },
        selector("x", g.features, g.x.name, (v) => { gridState.x = v; loadGrid(); }),
        g.features.length > 1 ? selector("y", ys, g.y.name === null ? "–" : g.y.name, (v) => { gridState.y = v === "–" ? null : v; loadGrid(); }) : null,
        selector("bins", bins, binsNow, (v) => { gridState.bins = v === DECLARED ? null : v; loadGrid(); })));
    }
    Charts.heatmap(box, g);
  }

  const paretoState = { x: null, y: null, x_dir: null, y_dir: null };  // the server picks: the problem's objectives
  async function loadPareto() {
    const p = await EF.api(base + "/pareto", paretoState);
    const box = EF.clear(slots.pareto);
    if (!p.x) {
      box.appendChild(EF.E("p", { class: "empty", text: "This campaign has " + p.metrics.length + " metric" + (p.metrics.length === 1 ? "" : "s") + ": a Pareto front needs at least two objectives." }));
      return;
    }
    Object.assign(paretoState, { x: p.x, y: p.y, x_dir: p.x_dir, y_dir: p.y_dir });
    box.appendChild(EF.E("div", { class: "controls" },
      selector("x", p.metrics, p.x, (v) => { paretoState.x = v; loadPareto(); }),
      selector("", ["max", "min"], p.x_dir, (v) => { paretoState.x_dir = v; loadPareto(); }),
      selector("y", p.metrics, p.y, (v) => { paretoState.y = v; loadPareto(); }),
      selector("", ["max", "min"], p.y_dir, (v) => { paretoState.y_dir = v; loadPareto(); })));
    Charts.scatter(box, p.others, p.front, { xName: p.x, yName: p.y, xLabel: p.x + " (" + p.x_dir + ") vs " + p.y + " (" + p.y_dir + ")", empty: "No correct program has both metrics." });
    if (p.guessed && p.guessed.length) {
      box.appendChild(EF.E("p", { class: "muted", id: "pareto-guessed", text: "The problem declares no objectives: " +
        p.guessed.map((a) => p[a]).join(" and ") + " " + (p.guessed.length > 1 ? "are" : "is") +
        " maximised or minimised as it moves with the score (pick other senses above)." }));
    }
  }

  async function loadLlm() {
    const l = await EF.api(base + "/llm");
    const box = EF.clear(slots.llm);
    if (!l.total.calls) {
      box.appendChild(EF.E("p", { class: "empty", text: "No LLM calls in this campaign (genetic operators only)." }));
      return;
    }
    const cols = (k) => [
      { label: k, get: (r) => r[0] },
      { label: "calls", num: true, get: (r) => r[1].calls },
      { label: "prompt tok", num: true, get: (r) => r[1].prompt_tokens },
      { label: "completion tok", num: true, get: (r) => r[1].completion_tokens },
      { label: "cost", num: true, get: (r) => EF.money(r[1].cost_usd) },
      { label: "mean latency", num: true, get: (r) => EF.duration(r[1].latency_s / r[1].calls) },
    ];
    box.appendChild(EF.E("p", {}, "total " + EF.money(l.total.cost_usd) + " over " + l.total.calls + " calls, " +
      (l.total.prompt_tokens + l.total.completion_tokens) + " tokens"));
    // how the calls ended: ok, or the failure class that cost a call (no_block, duplicate, ...)
    const outcomes = Object.entries(l.outcomes || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (outcomes.length) {
      box.appendChild(EF.E("p", { class: "muted", id: "llm-outcomes", text: "outcomes: " + outcomes.map(([k, n]) => k + " " + n).join(" · ") }));
    }
    box.appendChild(EF.table(cols("model"), Object.entries(l.by_model)));
    box.appendChild(EF.E("div", { class: "muted", text: "by operator" }));
    box.appendChild(EF.table(cols("operator"), Object.entries(l.by_operator)));
  }

  async function loadOperators() {
    const o = await EF.api(base + "/operators");
    const box = EF.clear(slots.operators);
    if (!o.operators.length) {
      box.appendChild(EF.E("p", { class: "empty", text: noneYet("No program made by an operator") }));
      return;
    }
    // nothing evaluated (a meta row, an operator whose proposals all failed): no rate
    const share = (n, r) => (r.evaluated ? (100 * n / r.evaluated).toFixed(n && n < r.evaluated / 100 ? 1 : 0) + "%" : "-");
    const llm = o.operators.some((r) => r.llm_calls);
    const cols = [
      { label: "operator", get: (r) => r.operator },
      { label: "made", num: true, get: (r) => r.made },
      { label: "correct", num: true, get: (r) => share(r.correct, r) },
      { label: "beat parent", num: true, get: (r) => share(r.beat_parent, r) },
      { label: "new bests", num: true, get: (r) => r.new_bests },
      { label: "best rise", num: true, get: (r) => EF.num(r.best_rise) },
    ];
    if (llm) {
      cols.push({ label: "LLM cost", num: true, get: (r) => (r.llm_calls ? EF.money(r.cost_usd) : "–") },
        { label: "$ per beat", num: true, get: (r) => (r.cost_per_beat === null ? "–" : EF.money(r.cost_per_beat)) });
    }
    box.appendChild(EF.table(cols, o.operators));
    box.appendChild(EF.E("p", { class: "muted", text: "beat parent: correct children scoring above their first parent, of those evaluated; " +
      "best rise: how much of the best score's rise over the initial programs its new bests made" }));
  }

  const programColumns = (best) => [
    { label: "id", key: "id", get: (r) => EF.programLink(r.id) },
    { label: "eval #", key: "eval_seq", num: true, get: (r) => r.eval_seq },
    { label: "score", key: "score", num: true, get: (r) => EF.num(r.score) },
    { label: "outcome", get: (r) => EF.badge(r.outcome || r.status) },
    { label: "operator", get: (r) => r.operator },
    { label: "island", key: "island", num: true, get: (r) => r.island },
    { label: "generation", key: "generation", num: true, get: (r) => r.generation },
    { label: "parents", get: (r) => EF.E("span", {}, r.parents.map((p, i) => [i ? " " : "", EF.programLink(p)])) },
    { label: "", get: (r) => EF.E("a", { href: "/campaigns/" + state.info.id + "/lineage?program=" + r.id, text: "lineage" }) },
  ];

  function renderRecent(programs) {
    const box = EF.clear(slots.recent);
    if (!programs.length) { box.appendChild(EF.E("p", { class: "empty", text: "Nothing evaluated yet." })); return; }
    const best = state.info.best_program;
    box.appendChild(EF.table(programColumns(best), programs.slice(0, 10), (r) => r.id === best ? "best" : ""));
  }

  async function loadPrograms() {
    const t = state.table;
    const data = await EF.api(base + "/programs", t);
    const box = EF.clear(slots.programs);
    const filters = EF.E("div", { class: "controls" },
      selector("operator", [""].concat(state.info.operators), t.operator || "", (v) => { t.operator = v; t.offset = 0; loadPrograms(); }),
      selector("outcome", [""].concat(state.info.outcome_classes), t.outcome || "", (v) => { t.outcome = v; t.offset = 0; loadPrograms(); }),
      selector("island", [""].concat(state.info.islands.map(String)), t.island || "", (v) => { t.island = v; t.offset = 0; loadPrograms(); }),
      selector("sort", ["score", "id", "eval_seq", "generation", "island"], t.sort, (v) => { t.sort = v; t.offset = 0; loadPrograms(); }),
      selector("order", ["desc", "asc"], t.order, (v) => { t.order = v; t.offset = 0; loadPrograms(); }));
    box.appendChild(filters);
    const best = state.info.best_program;
    box.appendChild(EF.table(programColumns(best), data.programs, (r) => r.id === best ? "best" : ""));
    const last = Math.min(data.offset + data.limit, data.total);
    box.appendChild(EF.E("div", { class: "pager" },
      EF.E("button", { id: "prev-page", disabled: data.offset === 0, onclick: () => { t.offset = Math.max(0, t.offset - t.limit); loadPrograms(); }, text: "← previous" }),
      EF.E("span", { id: "page-info", text: (data.total ? data.offset + 1 : 0) + "–" + last + " of " + data.total }),
      EF.E("button", { id: "next-page", disabled: last >= data.total, onclick: () => { t.offset += t.limit; loadPrograms(); }, text: "next →" })));
  }

  async function refreshAll() {
    const info = await EF.api(base);
    state.info = info;
    const summary = document.getElementById("summary");
    if (summary) summary.replaceWith(header(info));
    const jobs = [loadSeries(), loadGrid(), loadPareto(), loadLlm(), loadOperators(), loadPrograms()];
    const results = await Promise.allSettled(jobs);
    results.forEach((r) => { if (r.status === "rejected") console.error(r.reason); });
  }

  async function poll() {
    const u = await EF.api(base + "/updates", { since: state.cursor });
    if (u.new > 0 || u.status !== state.status || u.stale !== state.stale) {
      state.cursor = u.cursor;
      state.status = u.status;
      state.stale = u.stale;
      await refreshAll();
      const recent = await EF.api(base + "/updates", { since: Math.max(0, u.cursor - 10) });
      renderRecent(recent.programs);
    }
    if (u.status === "running" && u.stale) return "interrupted?";  // polled: a resume shows up
    return u.status === "running";
  }

  (async function start() {
    try {
      const info = await EF.api(base);
      state.info = info;
      state.status = info.status;
      state.stale = info.stale;
      state.cursor = info.cursor;
      layout(info);
      await refreshAll();
      const recent = await EF.api(base + "/updates", { since: Math.max(0, info.cursor - 10) });
      renderRecent(recent.programs);
      main.setAttribute("data-ready", "1");
      if (info.status === "running") EF.poll(poll, 2000);
    } catch (e) {
      EF.showError(main, e);
    }
  })();
})();
