// Lineage page: a Cytoscape DAG (dagre layered layout) of a subgraph loaded from the API:
// the neighbourhood of one program (?program=ID) or the campaign overview.
"use strict";

(function () {
  const main = document.getElementById("main");
  const key = EF.pathPart(1);
  const q = new URLSearchParams(window.location.search);
  const st = {
    program: q.get("program") || "",
    depth: q.get("depth") || "4",
    down: q.get("down") || "1",
    max_nodes: q.get("max_nodes") || "300",
    color: q.get("color") || "score",
    operator: q.get("operator") || "",
    outcome: q.get("outcome") || "",
    island: q.get("island") || "",
    min_score: q.get("min_score") || "",
    max_score: q.get("max_score") || "",
  };
  let cy = null, info = null, graph = null;
  // the newest evaluation (eval_seq) when the graph was loaded, and the newest seen since
  let loadedCursor = 0, latestCursor = 0;

  const EDGE_STYLE = {
    parent: { color: "#495057", style: "solid", label: "parent" },
    second_parent: { color: "#2f6fde", style: "dashed", label: "crossover (second parent)" },
    inspiration: { color: "#adb5bd", style: "dotted", label: "inspiration" },
    migration: { color: "#e0663a", style: "dashed", label: "migration" },
  };

  function control(label, name, type, options) {
    let input;
    if (options) {
      input = EF.E("select", { name, "aria-label": label }, options.map((o) => EF.E("option", { value: o[0], text: o[1], selected: String(st[name]) === String(o[0]) })));
    } else {
      input = EF.E("input", { name, type, value: st[name], "aria-label": label, step: type === "number" ? "any" : null });
    }
    input.addEventListener("change", () => { st[name] = input.value; reload(); });
    return EF.E("label", {}, label, input);
  }

  function toolbar() {
    const any = (xs) => [["", "any"]].concat(xs.map((x) => [String(x), String(x)]));
    const search = EF.E("input", { id: "search", type: "search", placeholder: "program id", "aria-label": "go to program" });
    const go = () => {
      const v = search.value.trim().replace(/^#/, "");
      if (/^\d+$/.test(v)) { st.program = v; reload(); }
      else { highlightMatches(v); }
    };
    search.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    return EF.E("div", { class: "controls card wide" },
      EF.E("label", {}, "search", search), EF.E("button", { id: "search-go", onclick: go, text: "go" }),
      EF.E("button", { id: "overview", onclick: () => { st.program = ""; reload(); }, text: "campaign overview" }),
      control("ancestor depth", "depth", "number"),
      control("child depth", "down", "number"),
      control("max nodes", "max_nodes", "number"),
      control("colour by", "color", null, [["score", "score"], ["island", "island"], ["outcome", "outcome"]]),
      control("operator", "operator", null, any(info.operators)),
      control("outcome", "outcome", null, any(info.outcome_classes)),
      control("island", "island", null, any(info.islands)),
      control("score ≥", "min_score", "number"),
      control("score ≤", "max_score", "number"));
  }

  function legend() {
    const items = Object.values(EDGE_STYLE).map((e) => {
      const sw = EF.E("span", { class: "swatch" });
      sw.style.backgroundColor = e.color;
      return EF.E("span", {}, sw, e.label);
    });
    const gold = EF.E("span", { class: "swatch" });
    gold.style.backgroundColor = "#e0a100";
    items.push(EF.E("span", {}, gold, "ancestry of the best program"));
    return EF.E("div", { class: "legend" }, items);
  }

  // Score colours by rank among the shown programs: one outlier cannot wash out the rest.
  function colourOf(n, rank) {
    if (st.color === "island") return EF.palette[n.island % EF.palette.length];
    if (st.color === "outcome") return EF.outcomeColor(n.outcome || "unknown");
    if (n.score === null || !n.correct) return EF.noScore;
    return EF.ramp(rank.get(n.score));
  }

  // the distinct scores of the shown programs that colourOf ranks, lowest first
  const rankedScores = (g) => [...new Set(g.nodes.filter((n) => n.correct && n.score !== null).map((n) => n.score))].sort((a, b) => a - b);

  function swatch(color, text) {
    const sw = EF.E("span", { class: "swatch" });
    sw.style.backgroundColor = color;
    return EF.E("span", {}, sw, text);
  }

  // What the node colours mean, above the graph (the side panel shows a program once one
  // is clicked): for scores, the ramp with the lowest, middle and highest shown score
  // where their colours are; colours go by rank, so the middle mark is the median score,
  // not the midpoint.
  function colourKey(g) {
    const box = EF.E("div", { id: "colour-key", class: "legend colour-key" });
    if (st.color === "island") {
      const islands = [...new Set(g.nodes.map((n) => n.island))].sort((a, b) => a - b);
      box.appendChild(EF.E("span", { text: "colour: island" }));
      for (const i of islands) box.appendChild(swatch(EF.palette[i % EF.palette.length], "island " + i));
      return box;
    }
    if (st.color === "outcome") {
      const outcomes = [...new Set(g.nodes.map((n) => n.outcome || "unknown"))].sort();
      box.appendChild(EF.E("span", { text: "colour: outcome" }));
      for (const o of outcomes) box.appendChild(swatch(EF.outcomeColor(o), o));
      return box;
    }
    const scores = rankedScores(g), n = scores.length;
    if (n > 1) {
      box.appendChild(EF.E("span", { text: `colour: score, by rank among the ${n} scores shown` }));
      const marks = [[0, "lowest " + EF.num(scores[0])], [0.5, "median " + EF.num(scores[Math.floor((n - 1) / 2)])], [1, "highest " + EF.num(scores[n - 1])]];
      box.appendChild(Charts.rampKey(marks, "score colours: from " + EF.num(scores[0]) + " to " + EF.num(scores[n - 1]), 480));
    } else if (n === 1) {
      box.appendChild(EF.E("span", { text: "colour: score" }));
      box.appendChild(swatch(EF.ramp(1), "score " + EF.num(scores[0]) + " (the only one shown)"));
    } else {
      box.appendChild(EF.E("span", { text: "colour: score (no program shown has one)" }));
    }
    if (g.nodes.some((x) => x.score === null || !x.correct)) box.appendChild(swatch(EF.noScore, "not correct or no score"));
    return box;
  }

  function elements(g) {
    const scores = rankedScores(g);
    const rank = new Map(scores.map((s, i) => [s, scores.length > 1 ? i / (scores.length - 1) : 1]));
    const nodes = g.nodes.map((n) => ({
      data: { id: String(n.id), label: "#" + n.id, color: colourOf(n, rank), raw: n },
      classes: [n.best_ancestry ? "ancestry" : "", n.best ? "best" : "", n.match ? "" : "dim",
        String(n.id) === String(g.focus) ? "focus" : ""].join(" ").trim(),
    }));
    const edges = g.edges.map((e, i) => ({
      data: { id: "e" + i, source: String(e.source), target: String(e.target), kind: e.kind },
      classes: e.kind + (e.best_ancestry ? " ancestry" : ""),
    }));
    return nodes.concat(edges);
  }

  function style() {
    const s = [
      { selector: "node", style: { "background-color": "data(color)", label: "data(label)", "font-size": 9, color: "#1d2330",
        "text-valign": "bottom", "text-margin-y": 3, width: 20, height: 20, "border-width": 1, "border-color": "#6b7385" } },
      { selector: "node.ancestry", style: { "border-width": 4, "border-color": "#e0a100" } },
      { selector: "node.best", style: { width: 30, height: 30, shape: "star", "border-color": "#e0a100", "border-width": 3 } },
      { selector: "node.focus", style: { "border-width": 4, "border-color": "#d6336c" } },
      { selector: "node.dim", style: { opacity: 0.22 } },
      { selector: "node.match", style: { "border-width": 5, "border-color": "#d6336c" } },
      { selector: "node:selected", style: { "overlay-color": "#2f6fde", "overlay-opacity": 0.25 } },
      { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "arrow-scale": 0.8 } },
    ];
    for (const [kind, e] of Object.entries(EDGE_STYLE)) {
      s.push({ selector: "edge." + kind, style: { "line-color": e.color, "target-arrow-color": e.color, "line-style": e.style } });
    }
    s.push({ selector: "edge.ancestry", style: { width: 4, "line-color": "#e0a100", "target-arrow-color": "#e0a100" } });
    return s;
  }

  function side(n) {
    const box = EF.clear(document.getElementById("side"));
    if (!n) {
      box.appendChild(EF.E("h2", { text: graph.focus && st.program ? "Neighbourhood of #" + graph.focus : "Campaign overview" }));
      const count = (n, what) => n + " " + what + (n === 1 ? "" : "s");
      box.appendChild(EF.E("p", { class: "muted", id: "graph-count", text: count(graph.nodes.length, "program") + ", " + count(graph.edges.length, "edge") + (graph.truncated ? " (a subgraph: raise max nodes or pick a program to see more)" : "") }));
      box.appendChild(EF.E("p", { class: "muted", text: "Click a program for details; double-click to centre the graph on it." }));
      box.appendChild(legend());
      return;
    }
    box.appendChild(EF.E("h2", {}, "Program #" + n.id, " ", n.best ? EF.badge("best", "bestmark") : null));
    const rows = [["score", EF.num(n.score)], ["outcome", n.outcome || n.status], ["operator", n.operator], ["island", n.island],
      ["generation", n.generation], ["in best ancestry", n.best_ancestry ? "yes" : "no"],
      ["parents not shown", n.hidden_parents], ["children not shown", n.hidden_children]];
    box.appendChild(EF.E("table", { class: "kv" }, rows.map(([k, v]) => EF.E("tr", {}, EF.E("td", { text: k }), EF.E("td", { text: v })))));
    box.appendChild(EF.E("p", { class: "links" },
      EF.E("a", { href: "/programs/" + n.id, id: "open-program", text: "Open program →" }),
      EF.E("a", { href: "#", id: "centre", text: "Centre here", onclick: (e) => { e.preventDefault(); st.program = String(n.id); reload(); } })));
  }

  function highlightMatches(text) {
    if (!cy) return;
    cy.nodes().removeClass("match");
    if (!text) return;
    const t = text.toLowerCase();
    cy.nodes().filter((n) => {
      const r = n.data("raw");
      return [r.operator, r.outcome, "island " + r.island].some((v) => String(v).toLowerCase().includes(t));
    }).addClass("match");
  }

  function urlState() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(st)) if (v !== "") p.set(k, v);
    history.replaceState(null, "", window.location.pathname + "?" + p.toString());
  }

  async function reload() {
    urlState();
    window.evoforgeGraph = null;
    const filters = { operator: st.operator, outcome: st.outcome, island: st.island, min_score: st.min_score, max_score: st.max_score, max_nodes: st.max_nodes };
    const status = document.getElementById("graph-status");
    status.textContent = "loading…";
    if (st.program && !/^\d+$/.test(String(st.program).trim())) {
      status.textContent = `Could not load: no program ${st.program} (a program id is a number)`;
      return;
    }
    try {
      graph = st.program
        ? await EF.api("/api/programs/" + encodeURIComponent(st.program) + "/lineage", Object.assign({ depth: st.depth, down: st.down, campaign: info.id }, filters))
        : await EF.api("/api/campaigns/" + encodeURIComponent(key) + "/lineage", filters);
    } catch (e) {
      // a program of another campaign: the server names the lineage page it is on; a link
      const m = /^(.*open )(\/campaigns\/\d+\/lineage\?program=\d+)$/.exec(e.message);
      EF.clear(status).textContent = "Could not load: " + (m ? m[1] : e.message);
      if (m) status.appendChild(EF.E("a", { href: EF.safeHref(m[2]), text: m[2] }));
      return;
    }
    status.textContent = "";
    document.getElementById("colour-key").replaceWith(colourKey(graph));
    loadedCursor = latestCursor;
    if (cy) cy.destroy();
    cy = cytoscape({
      container: document.getElementById("cy"),
      elements: elements(graph),
      style: style(),
      layout: { name: "dagre", rankDir: "TB", nodeSep: 14, rankSep: 46, animate: false },
      minZoom: 0.05,
      maxZoom: 4,
    });
    cy.on("tap", "node", (e) => side(e.target.data("raw")));
    cy.on("tap", (e) => { if (e.target === cy) side(null); });
    cy.on("dbltap", "node", (e) => { st.program = e.target.id(); reload(); });
    side(null);
    if (graph.focus !== null && st.program) {
      const f = cy.getElementById(String(graph.focus));
      if (f.nonempty()) { f.select(); side(f.data("raw")); }
    }
    main.setAttribute("data-ready", String(Date.now()));
    window.evoforgeGraph = { nodes: graph.nodes.length, edges: graph.edges.length, focus: graph.focus, program: st.program };
  }

  (async function start() {
    try {
      info = await EF.api("/api/campaigns/" + encodeURIComponent(key));
    } catch (e) { EF.showError(main, e); return; }
    EF.crumbs({ text: "campaigns", href: "/" }, { text: info.name, href: "/campaigns/" + info.id }, { text: "lineage" });
    document.title = "evoforge · lineage · " + info.name;
    EF.clear(main);
    main.appendChild(toolbar());
    main.appendChild(EF.E("p", { id: "graph-status", class: "muted" }));
    main.appendChild(EF.E("div", { id: "colour-key" }));
    main.appendChild(EF.E("div", { class: "graph-wrap" }, EF.E("div", { id: "cy" }), EF.E("aside", { id: "side", class: "side" })));
    if (typeof cytoscape === "undefined") { EF.showError(main, new Error("the graph library did not load")); return; }
    latestCursor = info.cursor;
    await reload();
    if (info.status === "running") {
      EF.poll(async () => {
        const u = await EF.api("/api/campaigns/" + info.id + "/updates", { since: latestCursor });
        if (u.new > 0) {
          latestCursor = u.cursor;
          const fresh = latestCursor - loadedCursor;  // since the graph was drawn, not since the last poll
          document.getElementById("graph-status").textContent = fresh + " new evaluation" + (fresh === 1 ? "" : "s") + ": ";
          document.getElementById("graph-status").appendChild(EF.E("a", { href: "#", text: "refresh the graph", onclick: (e) => { e.preventDefault(); reload(); } }));
        }
        return u.status === "running";
      }, 3000);
    }
  })();
})();
