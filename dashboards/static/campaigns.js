// Campaigns page: every campaign of the database, refreshed while any is running; tick 2 to
// 8 of them and Compare opens the compare page.
"use strict";

(function () {
  const main = document.getElementById("main");
  EF.crumbs({ text: "campaigns" });
  const MIN = 2, MAX = 8;
  const ticked = new Set();  // campaign ids: kept across the refreshes that redraw the table

  function compareBar() {
    const button = EF.E("button", { id: "compare", type: "button", onclick: () => {
      const query = new URLSearchParams();
      for (const id of ticked) query.append("c", String(id));
      window.location.href = "/compare?" + query.toString();
    } }, "Compare");
    const hint = EF.E("span", { class: "muted", id: "compare-hint" });
    function update() {
      button.disabled = ticked.size < MIN || ticked.size > MAX;
      hint.textContent = ticked.size > MAX ? `at most ${MAX} campaigns` :
        ticked.size < MIN ? `tick ${MIN} to ${MAX} campaigns to compare them` : `${ticked.size} campaigns ticked`;
    }
    update();
    return { el: EF.E("div", { class: "controls" }, button, hint), update };
  }

  function render(data) {
    EF.clear(main);
    main.appendChild(EF.E("h1", { text: "Campaigns" }));
    const rows = data.campaigns;
    if (!rows.length) {
      main.appendChild(EF.E("p", { class: "empty", text: "No campaigns yet: start one with `evolve run PROBLEM`." }));
      return;
    }
    const ids = new Set(rows.map((r) => r.id));
    for (const id of [...ticked]) if (!ids.has(id)) ticked.delete(id);
    const bar = compareBar();
    const tick = (r) => EF.E("input", { type: "checkbox", class: "compare-tick", "aria-label": "compare " + r.name,
      checked: ticked.has(r.id), onchange: (e) => { if (e.target.checked) ticked.add(r.id); else ticked.delete(r.id); bar.update(); } });
    const columns = [
      { label: "", get: tick },
      { label: "name", get: (r) => EF.E("a", { href: "/campaigns/" + r.id, text: r.name, class: "campaign-link" }) },
      { label: "problem", get: (r) => r.problem },
      { label: "status", get: (r) => EF.statusCell(r) },
      { label: "evaluations", num: true, get: (r) => r.evaluated + (r.budget ? " / " + r.budget : "") },
      { label: "best score", num: true, get: (r) => r.best_program ? EF.E("a", { href: "/programs/" + r.best_program, text: EF.num(r.best_score) }) : "–" },
      { label: "LLM spend", num: true, get: (r) => r.llm_calls ? EF.money(r.spend_usd) : "–" },
      { label: "started", get: (r) => EF.time(r.created_at) },
      { label: "finished", get: (r) => EF.time(r.finished_at) },
      { label: "", get: (r) => EF.E("a", { href: "/campaigns/" + r.id + "/lineage", text: "lineage" }) },
    ];
    main.appendChild(EF.E("section", { class: "card wide" }, bar.el, EF.table(columns, rows)));
  }

  async function load() {
    const data = await EF.api("/api/campaigns");
    render(data);
    return data.campaigns.some((c) => c.status === "running" && !c.stale);  // a killed one is not live
  }

  load().then((running) => {
    if (running) EF.poll(load, 3000);
  }).catch((e) => EF.showError(main, e));
})();
