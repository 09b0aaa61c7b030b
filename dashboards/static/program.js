// Program page: highlighted code, diffs against each parent (computed on the server),
// metrics, features, feedback, evaluation stages, LLM calls, parents and children.
"use strict";

(function () {
  const main = document.getElementById("main");
  const pid = EF.pathPart(1);

  function codeBlock(tokens, id) {
    const pre = EF.E("pre", { class: "code", id });
    for (const [cls, text] of tokens) pre.appendChild(cls ? EF.E("span", { class: cls, text }) : document.createTextNode(text));
    return pre;
  }

  // tab buttons over bodies, the first shown: [{ id, text }] and the bodies, in one order
  function tabbed(tabs, bodies) {
    const bar = EF.E("div", { class: "tabs" });
    tabs.forEach((t, i) => {
      const b = EF.E("button", { class: i === 0 ? "on" : "", id: t.id, text: t.text });
      b.addEventListener("click", () => {
        bar.querySelectorAll("button").forEach((x) => x.classList.remove("on"));
        b.classList.add("on");
        bodies.forEach((body, j) => { body.hidden = j !== i; });
      });
      bar.appendChild(b);
    });
    bodies.forEach((body, i) => { body.hidden = i !== 0; });
    return [bar, ...bodies];
  }

  // The program as scored first, where its evaluation recorded one that differs from the
  // code as proposed (an evaluator that tunes constants before scoring): the score, metrics
  // and feedback beside it are that program's. The stored code stays a tab away.
  function codeCard(p) {
    if (!p.evaluated_tokens) return EF.card("Code", codeBlock(p.tokens, "code"));
    return EF.card("Code", ...tabbed([
      { id: "code-tab-scored", text: "as scored" },
      { id: "code-tab-proposed", text: "as proposed" },
    ], [
      EF.E("div", {}, EF.E("p", { class: "muted", text: "The program its evaluation scored (e.g. with the constants it tuned): the score, metrics and feedback are this program's." }),
        codeBlock(p.evaluated_tokens, "code")),
      EF.E("div", {}, EF.E("p", { class: "muted", text: "The code as proposed and stored: the diffs against parents show this code, against each parent as proposed, or as scored where that is closer." }),
        codeBlock(p.tokens, "code-proposed")),
    ]));
  }

  function diffBlock(d) {
    if (d.too_large) return EF.E("p", { class: "empty", text: "Too large to diff here." });
    if (!d.lines.length) return EF.E("p", { class: "empty", text: "Identical code." });
    const pre = EF.E("pre", { class: "code diff" });
    const mark = { add: "+", del: "-", ctx: " ", hunk: "" };
    for (const [kind, text] of d.lines) {
      pre.appendChild(EF.E("span", { class: "line " + kind },
        EF.E("span", { class: "mark", text: mark[kind] }), text + "\n"));
    }
    return pre;
  }

  // Which version of a parent its diff compares, where the parent has two (it was scored
  // as another program, e.g. with tuned constants): a child of such a parent may start from
  // either, and the server diffs against the closer one (dashboards/program.py: diffs).
  function againstNote(d) {
    if (!d.parent_scored) return null;
    const text = d.against === "scored"
      ? "Against the parent as scored (e.g. with the constants its evaluation tuned), the closer of its two versions: a child that inherited them shows only its own change."
      : "Against the parent as proposed (its stored code), which is closer to this child than the parent as scored.";
    return EF.E("p", { class: "muted diff-against", text });
  }

  function kvTable(obj, empty) {
    const entries = Object.entries(obj || {});
    if (!entries.length) return EF.E("p", { class: "empty", text: empty });
    return EF.E("table", { class: "kv" }, entries.map(([k, v]) => EF.E("tr", {}, EF.E("td", { text: k }), EF.E("td", { class: "num", text: EF.num(v) }))));
  }

  // a stage's feedback, cut to one short line in the table; the whole text on hover
  function stageFeedback(text) {
    const line = text.split("\n")[0].slice(0, 80);
    return EF.E("span", { class: "stage-feedback", title: text, text: line === text ? line : line + " …" });
  }

  // whether its campaign may still add to it: running, with a controller
  const live = (p) => p.campaign.status === "running" && !p.campaign.stale;

  function relatives(list, empty) {
    if (!list.length) return EF.E("p", { class: "empty", text: empty });
    return EF.table([
      { label: "program", get: (r) => EF.programLink(r.id) },
      { label: "edge", get: (r) => r.kind },
      { label: "score", num: true, get: (r) => EF.num(r.score) },
      { label: "outcome", get: (r) => EF.badge(r.outcome || "pending") },
      { label: "operator", get: (r) => r.operator },
      { label: "island", num: true, get: (r) => r.island },
    ], list);
  }

  function render(p, diffs) {
    EF.clear(main);
    EF.crumbs({ text: "campaigns", href: "/" }, { text: p.campaign.name || "campaign", href: "/campaigns/" + p.campaign.id },
      { text: "program #" + p.id });
    document.title = "evoforge · program " + p.id;
    main.appendChild(EF.E("h1", {}, "Program #" + p.id, " ", EF.badge(p.outcome || p.status),
      p.is_best ? [" ", EF.badge("best of campaign", "bestmark")] : null));
    main.appendChild(EF.E("div", { class: "stats" },
      EF.stat("score", EF.num(p.score)), EF.stat("correct", p.correct === null ? "–" : p.correct ? "yes" : "no"),
      EF.stat("operator", p.operator), EF.stat("island", String(p.island)), EF.stat("generation", String(p.generation)),
      EF.stat("evaluation #", p.eval_seq === null ? "–" : String(p.eval_seq)), EF.stat("created", EF.time(p.created_at)),
      EF.stat("evaluated", EF.time(p.evaluated_at)), EF.stat("in best ancestry", p.in_best_ancestry ? "yes" : "no")));
    main.appendChild(EF.E("p", { class: "links" },
      EF.E("a", { href: "/campaigns/" + p.campaign.id + "/lineage?program=" + p.id, id: "lineage-link", text: "Lineage of this program →" })));

    const diffCard = EF.E("section", { class: "card", id: "diffs" }, EF.E("h2", { text: "Diff against parents" }));
    if (!diffs.length) diffCard.appendChild(EF.E("p", { class: "empty", text: "No parent: an initial program." }));
    const bodies = diffs.map((d) => EF.E("div", { class: "diff-body", "data-parent": d.parent, "data-against": d.against },
      againstNote(d), diffBlock(d)));
    if (diffs.length) {
      const tabs = diffs.map((d) => ({ id: "diff-tab-" + d.parent,
        text: `${d.kind} #${d.parent}${d.against === "scored" ? " as scored" : ""} (+${d.added} −${d.removed})` }));
      tabbed(tabs, bodies).forEach((el) => diffCard.appendChild(el));
      diffCard.appendChild(EF.E("p", { class: "links" }, diffs.map((d) => EF.E("a", { href: "/programs/" + d.parent, text: "open parent #" + d.parent }))));
    }
    main.appendChild(EF.E("div", { class: "pair" }, codeCard(p), diffCard));
    main.appendChild(EF.E("div", { class: "cards" },
      EF.card("Metrics", kvTable(p.metrics, "No metrics.")),
      EF.card("Features", kvTable(p.features, "No behaviour features.")),
      EF.card("Feedback", p.feedback ? EF.E("pre", { class: "text", id: "feedback", text: p.feedback }) : EF.E("p", { class: "empty", text: "No feedback." })),
      ...(p.held_out ? [EF.card("Held-out check", EF.E("div", { id: "held-out" },
        EF.E("p", { class: "muted", text: `${p.held_out.outcome} · score ${EF.num(p.held_out.score)} · scored when the campaign ended, never selected on` }),
        EF.E("pre", { class: "text", text: p.held_out.detail || "" })))] : []),
      EF.card("Parents", relatives(p.parents, "No parents.")),
      EF.card("Children", relatives(p.children, live(p) ? "No children yet." : "No children."))));

    const stages = p.evaluations.length ? EF.table([
      { label: "stage", get: (e) => e.stage },
      { label: "outcome", get: (e) => EF.badge(e.outcome) },
      { label: "score", num: true, get: (e) => EF.num(e.score) },
      { label: "correct", get: (e) => e.correct === null ? "–" : e.correct ? "yes" : "no" },
      { label: "duration", num: true, get: (e) => EF.duration(e.duration_s) },
      { label: "worker", get: (e) => e.worker },
      { label: "attempt", num: true, get: (e) => e.attempt },
      { label: "isolation", get: (e) => e.isolation },
      { label: "at", get: (e) => e.created_at.replace("T", " ").slice(0, 19) },
      { label: "feedback", get: (e) => stageFeedback(e.feedback || "") },
    ], p.evaluations) : EF.E("p", { class: "empty", id: "not-evaluated", text: p.campaign.stale
      ? "Not evaluated: its campaign's controller is gone (killed?); `evolve resume " + p.campaign.name + "` evaluates it."
      : live(p) ? "Not evaluated yet." : "Not evaluated: its campaign stopped before it was." });
    const evalCard = EF.E("section", { class: "card wide", id: "evaluations" }, EF.E("h2", { text: "Evaluation stages" }), stages);

    const llmCard = EF.E("section", { class: "card wide", id: "llm" }, EF.E("h2", { text: "LLM call" }));
    const origin = p.imported_from;
    if (origin) {
      llmCard.appendChild(EF.E("p", { id: "imported-from" }, "Imported from campaign " + origin.campaign + ": ",
        EF.E("a", { href: "/programs/" + origin.program_id, text: "program #" + origin.program_id }),
        " (score there " + (origin.score === null ? "none" : String(origin.score)) + "), evaluated again here."));
    } else if (!p.llm_calls.length) {
      llmCard.appendChild(EF.E("p", { class: "empty", id: "no-llm", text: p.operator === "initial"
        ? "An initial program: no LLM call made it." : "Made by " + p.operator + ": no LLM call." }));
    }
    for (const c of p.llm_calls) {
      llmCard.appendChild(EF.E("p", { class: "muted", text: `${c.model} · ${c.outcome} · ${c.prompt_tokens}+${c.completion_tokens} tokens · ` +
        `${EF.money(c.cost_usd)} · ${EF.duration(c.latency_s)}` + (c.attempt > 1 ? ` · attempt ${c.attempt}` : "") }));
      llmCard.appendChild(EF.E("h2", { text: "Prompt" }));
      llmCard.appendChild(EF.E("pre", { class: "text llm-prompt", text: c.prompt }));
      llmCard.appendChild(EF.E("h2", { text: "Response" }));
      llmCard.appendChild(EF.E("pre", { class: "text llm-response", text: c.response }));
    }
    main.appendChild(EF.E("div", { class: "cards" }, evalCard, llmCard));
    main.setAttribute("data-ready", "1");
  }

  async function load() {
    const [p, d] = await Promise.all([EF.api("/api/programs/" + pid), EF.api("/api/programs/" + pid + "/diff")]);
    render(p, d.diffs);
    return p;
  }

  load().then((p) => {
    // a pending program's page reloads once it is evaluated (also after a resume); not
    // polled when its campaign ended (stopped at its time limit: only a resume evaluates it)
    const waiting = (q) => q.status !== "pending" ? false : q.campaign.stale ? "interrupted?" : true;
    if (p.status === "pending" && p.campaign.status === "running") EF.poll(async () => waiting(await load()), 2000);
  }).catch((e) => EF.showError(main, e));
})();
