// Compare page (/compare?c=A&c=B...): 2 to 8 campaigns' best score over evaluations and
// over time, and a table of their progress, speed to good and the settings that differ;
// refreshed while any of them runs. Campaigns of one problem (one objective) share a
// chart, so their heights compare; each other problem gets a chart of its own, on its own
// y axis: on one shared axis, scores in the thousands flattened scores near 1 into a line.
"use strict";

(function () {
  const main = document.getElementById("main");
  const keys = new URLSearchParams(window.location.search).getAll("c");
  const query = new URLSearchParams(keys.map((k) => ["c", k]));
  EF.crumbs({ text: "campaigns", href: "/" }, { text: "compare" });

  const pct = (p) => Math.round(p * 100) + "%";
  const setting = (v) => (v === null || v === undefined ? "not set" : JSON.stringify(v));

  // The campaigns by objective (the problem, and its options where they differ), in the
  // order of their first campaign; a campaign keeps its colour (its place in the table).
  function groups(rows) {
    const out = new Map();
    rows.forEach((r, i) => {
      const key = r.objective || r.problem;
      if (!out.has(key)) out.set(key, []);
      out.get(key).push(Object.assign({ color: EF.palette[i % EF.palette.length] }, r));
    });
    return out;
  }

  // One panel per objective, each with its own y axis. With opts.sameX the x axis is the
  // same in every panel (the widest), so that how many evaluations each took lines up;
  // not for time, which one problem's evaluator spends a hundred times faster than another's.
  function chart(title, id, rows, field, opts) {
    const body = EF.E("div", { id });
    const byObjective = groups(rows);
    const xs = opts.sameX ? rows.flatMap((r) => r[field].map((p) => p[0])) : [];
    const xDomain = xs.length && Math.max(...xs) > Math.min(...xs) ? [Math.min(...xs), Math.max(...xs)] : undefined;
    for (const [objective, members] of byObjective) {
      const panel = EF.E("div", { class: "panel", "data-objective": objective });
      if (byObjective.size > 1) panel.appendChild(EF.E("h3", { text: objective }));
      Charts.line(panel, members.map((r) => ({ name: r.name, points: r[field], color: r.color, step: true })),
        Object.assign({ empty: "No correct evaluation in " + (members.length > 1 ? "these campaigns." : "this campaign."), legend: true, xDomain }, opts));
      const none = members.filter((r) => !r[field].length).map((r) => r.name);
      if (none.length && none.length < members.length) panel.appendChild(EF.E("p", { class: "muted", text: "no correct evaluation: " + none.join(", ") }));
      body.appendChild(panel);
    }
    return EF.E("section", { class: "card" }, EF.E("h2", { text: title }), body);
  }

  function table(data) {
    const rows = data.campaigns;
    const differs = Object.keys(data.differs);
    const reach = (k) => (r) => {
      if (!r.best_by_eval.length) return "–";
      const n = r.evals_to[k];
      return n === null ? EF.E("span", { class: "muted", text: "not reached" }) : String(n);
    };
    const swatch = (i) => { const s = EF.E("span", { class: "swatch" }); s.style.backgroundColor = EF.palette[i % EF.palette.length]; return s; };
    const columns = [
      { label: "campaign", get: (r) => EF.E("span", {}, swatch(rows.indexOf(r)), EF.E("a", { href: "/campaigns/" + r.id, text: r.name, class: "campaign-link" })) },
      { label: "problem", get: (r) => r.problem },
      { label: "status", get: (r) => EF.statusCell(r) },
      { label: "evaluations", num: true, get: (r) => r.evaluated + (r.budget ? " / " + r.budget : "") },
      { label: "best score", num: true, get: (r) => r.best_program ? EF.E("a", { href: "/programs/" + r.best_program, text: EF.num(r.best_score) }) : "–" },
      ...data.levels.map((p, k) => ({ label: "evaluations to " + pct(p), num: true, get: reach(k) })),
      { label: "LLM spend", num: true, get: (r) => r.llm_calls ? EF.money(r.spend_usd) + " · " + r.llm_calls + (r.llm_calls === 1 ? " call" : " calls") : "–" },
    ];
    if (differs.length) {
      columns.push({ label: "settings that differ", get: (r) => {
        const i = rows.indexOf(r);
        return EF.E("ul", { class: "settings" }, differs.map((k) => EF.E("li", {}, EF.E("code", { text: k }), " = " + setting(data.differs[k][i]))));
      } });
    }
    const card = EF.E("section", { class: "card wide" }, EF.E("h2", { text: "Campaigns" }));
    const box = EF.E("div", { id: "compare-table" }, EF.table(columns, rows));
    card.appendChild(box);
    if (!differs.length) card.appendChild(EF.E("p", { class: "muted", text: "Their stored settings are the same (name, database, problem and data secret aside)." }));
    card.appendChild(help(data));
    return card;
  }

  // what "evaluations to 90%" means, with this comparison's numbers
  function help(data) {
    const levels = data.levels.map(pct).join(" / ");
    const box = EF.E("div", { id: "speed-help", class: "muted help" },
      EF.E("p", { text: `Evaluations to ${levels}: among the compared campaigns of one problem, S is the lowest of their ` +
        "first best scores (each one's first correct evaluation) and B the highest best score. A campaign's figure is the " +
        "number of evaluations after which its best score first reached S + p × (B − S), p of the best improvement seen, " +
        "the same target for every campaign of the problem; \u201cnot reached\u201d when its best stayed below." }));
    for (const [problem, t] of Object.entries(data.targets)) {
      if (!t) continue;
      const targets = data.levels.map((p, k) => `${pct(p)}: ${EF.num(t.targets[k])}`).join(", ");
      box.appendChild(EF.E("p", { text: `${problem}: S = ${EF.num(t.start)}, B = ${EF.num(t.best)}; targets ${targets}.` }));
    }
    return box;
  }

  function render(data) {
    EF.clear(main);
    main.appendChild(EF.E("h1", { text: "Compare campaigns" }));
    const rows = data.campaigns;
    document.title = "evoforge · compare " + rows.map((r) => r.name).join(", ");
    const objectives = [...groups(rows).keys()];
    if (objectives.length > 1) {
      const what = data.same_problem ? "solve their problem with different options" : "solve different problems";
      main.appendChild(EF.E("p", { class: "warn", id: "scale-warning", text: `These campaigns ${what} (${objectives.join("; ")}): ` +
        "their scores are on different scales, so each has a chart of its own, on its own y axis (campaigns of one share it); " +
        "compare the shapes of their curves, not their heights." }));
    }
    main.appendChild(EF.E("div", { class: "cards" },
      chart("Best score over evaluations", "slot-cmp-eval", rows, "best_by_eval", { xLabel: "evaluations", xInteger: true, sameX: true, label: "best score over evaluations" }),
      chart("Best score over time", "slot-cmp-time", rows, "best_by_time", { xLabel: "time since start", xFormat: EF.sinceStart, xTime: true, xMin: 0, label: "best score over time" }),
      table(data)));
    main.setAttribute("data-ready", "");
  }

  // fewer than 2 campaigns, too many, the same twice: the API's message, and a way back
  function showBadRequest(err) {
    EF.clear(main);
    main.appendChild(EF.E("h1", { id: "nothing-to-compare", text: "Nothing to compare" }));
    main.appendChild(EF.E("p", { class: "error", text: err.message }));
    main.appendChild(EF.E("p", {}, EF.E("a", { href: "/", text: "← tick 2 to 8 campaigns on the campaigns page" })));
  }

  async function load() {
    const data = await EF.api("/api/compare?" + query.toString());
    render(data);
    return data.campaigns.some((c) => c.status === "running" && !c.stale);  // a killed one is not live
  }

  load().then((running) => {
    if (running) EF.poll(load, 3000);
  }).catch((e) => (e.status === 400 ? showBadRequest(e) : EF.showError(main, e)));
})();
