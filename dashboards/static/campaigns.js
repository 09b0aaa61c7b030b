// Campaigns page: every campaign of the database, refreshed while any is running.
"use strict";

(function () {
  const main = document.getElementById("main");
  EF.crumbs({ text: "campaigns" });

  // the status, and why it ended when that was not its budget (as `evolve status` does)
  const PLAIN = ["budget", "time_limit", "interrupted"];
  function statusCell(r) {
    const badge = EF.statusBadge(r);
    if (!r.reason || PLAIN.includes(r.reason)) return badge;
    return EF.E("span", { class: "status-cell" }, badge, " ", EF.E("span", { class: "muted reason", text: EF.reasonText(r.reason) }));
  }

  function render(data) {
    EF.clear(main);
    main.appendChild(EF.E("h1", { text: "Campaigns" }));
    const rows = data.campaigns;
    if (!rows.length) {
      main.appendChild(EF.E("p", { class: "empty", text: "No campaigns yet: start one with `evolve run PROBLEM`." }));
      return;
    }
    const columns = [
      { label: "name", get: (r) => EF.E("a", { href: "/campaigns/" + r.id, text: r.name, class: "campaign-link" }) },
      { label: "problem", get: (r) => r.problem },
      { label: "status", get: (r) => statusCell(r) },
      { label: "evaluations", num: true, get: (r) => r.evaluated + (r.budget ? " / " + r.budget : "") },
      { label: "best score", num: true, get: (r) => r.best_program ? EF.E("a", { href: "/programs/" + r.best_program, text: EF.num(r.best_score) }) : "–" },
      { label: "LLM spend", num: true, get: (r) => r.llm_calls ? EF.money(r.spend_usd) : "–" },
      { label: "started", get: (r) => EF.time(r.created_at) },
      { label: "finished", get: (r) => EF.time(r.finished_at) },
      { label: "", get: (r) => EF.E("a", { href: "/campaigns/" + r.id + "/lineage", text: "lineage" }) },
    ];
    main.appendChild(EF.E("section", { class: "card wide" }, EF.table(columns, rows)));
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
