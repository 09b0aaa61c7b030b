// Shared helpers. Every piece of data reaches the page through textContent or an SVG
// attribute, never innerHTML: a program's code or feedback cannot become markup.
"use strict";

const EF = {};

// E("a", {href: "/x", class: "c"}, "text", child...)
EF.E = function (tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (k === "href") el.setAttribute("href", EF.safeHref(v));
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  EF.append(el, children);
  return el;
};

EF.append = function (el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
};

// Only same-origin paths built by this code: never javascript: or other schemes.
EF.safeHref = function (href) {
  const s = String(href);
  return s.startsWith("/") && !s.startsWith("//") ? s : "#";
};

EF.clear = function (el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};

EF.api = async function (path, params) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
  }
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const err = new Error((body && body.error) || res.status + " " + res.statusText);
    err.status = res.status;
    throw err;
  }
  return body;
};

EF.num = function (v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(digits || 3);
  return v.toFixed(digits === undefined ? 4 : digits);
};

EF.money = (v) => "$" + (v || 0).toFixed(v >= 100 ? 0 : 4);

EF.time = function (epoch) {
  if (!epoch) return "–";
  const d = new Date(epoch * 1000);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
};

EF.duration = function (s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return (s * 1000).toFixed(1) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
};

// seconds since a campaign's start, on a time axis: "2 min", not "2.0 min"
EF.sinceStart = (t) => (t === 0 ? "0 s" : EF.duration(t).replace(/\.0 /, " "));

EF.badge = (text, cls) => EF.E("span", { class: "badge " + (cls || text || ""), text: text || "–" });

// A campaign's status; one stored as running that no controller runs (its lease expired:
// killed) reads "interrupted?", as in `evolve status`.
EF.STALE_HINT = "stored as running, but no controller has renewed its lease: killed? `evolve resume NAME` continues it";
EF.statusBadge = function (c) {
  if (!c.stale) return EF.badge(c.status);
  const b = EF.badge("interrupted?", "interrupted stale");
  b.title = EF.STALE_HINT.replace("NAME", c.name);
  return b;
};

// Why a campaign ended (its terminal event's reason), in words.
EF.REASONS = {
  budget: "its evaluation budget was spent", time_limit: "its time limit was reached",
  interrupted: "it was interrupted (Ctrl-C or SIGTERM)", initial_failed: "its initial program failed",
  stalled: "it stalled: no new program could be proposed", llm_budget: "its LLM budget was spent",
  llm_unavailable: "no LLM model could be used", already_finished: "it had already finished",
  target_reached: "its best score reached its target_score",
  no_improvement: "no new best in its last `patience` evaluations",
};
EF.reasonText = (reason) => (reason ? EF.REASONS[reason] || reason : "");

// A table's status cell: the badge, and why it ended when that was not its budget or time
// limit (as `evolve status` does).
EF.PLAIN_REASONS = ["budget", "time_limit", "interrupted"];
EF.statusCell = function (r) {
  const badge = EF.statusBadge(r);
  if (!r.reason || EF.PLAIN_REASONS.includes(r.reason)) return badge;
  return EF.E("span", { class: "status-cell" }, badge, " ", EF.E("span", { class: "muted reason", text: EF.reasonText(r.reason) }));
};

EF.crumbs = function (...items) {
  const nav = EF.clear(document.getElementById("crumbs"));
  items.forEach((it, i) => {
    if (i) nav.appendChild(EF.E("span", { text: "›" }));
    nav.appendChild(it.href ? EF.E("a", { href: it.href, text: it.text }) : EF.E("span", { text: it.text }));
  });
};

EF.card = function (title, ...children) {
  return EF.E("section", { class: "card" }, EF.E("h2", { text: title }), ...children);
};

EF.stat = (k, v) => EF.E("div", { class: "stat" }, EF.E("span", { class: "k", text: k }),
  v instanceof Node ? EF.E("span", { class: "v" }, v) : EF.E("span", { class: "v", text: v }));

EF.table = function (columns, rows, rowClass) {
  const head = EF.E("tr", {}, columns.map((c) => EF.E("th", { class: c.num ? "num" : "", text: c.label })));
  const body = rows.map((r) => EF.E("tr", { class: rowClass ? rowClass(r) : "" },
    columns.map((c) => {
      const v = c.get(r);
      return EF.E("td", { class: c.num ? "num" : "" }, v instanceof Node ? v : String(v === undefined || v === null ? "–" : v));
    })));
  return EF.E("table", {}, EF.E("thead", {}, head), EF.E("tbody", {}, body));
};

EF.programLink = (id) => EF.E("a", { href: "/programs/" + Number(id), text: "#" + Number(id) });

// A missing campaign or program (the API answers 404: the page itself is a static shell)
// says so plainly, with a way back; any other failure says what went wrong.
EF.showError = function (el, err) {
  EF.clear(el);
  if (err.status === 404) {
    document.title = "evoforge · not found";
    el.appendChild(EF.E("h1", { id: "not-found", text: "Not found" }));
    el.appendChild(EF.E("p", { class: "error", text: err.message }));
    el.appendChild(EF.E("p", {}, EF.E("a", { href: "/", text: "← all campaigns" })));
    return;
  }
  el.appendChild(EF.E("p", { class: "error", text: "Could not load: " + err.message }));
};

// Polls fn every ms while the tab is visible; shows the "live" marker. fn returns false
// to stop, or a string to keep polling with that marker instead of "live".
EF.poll = function (fn, ms) {
  const marker = document.getElementById("live");
  let timer = null;
  let stopped = false;
  async function tick() {
    if (stopped) return;
    if (!document.hidden) {
      try {
        const more = await fn();
        // a string: still polled, but not live (a campaign whose controller is gone)
        if (marker && typeof more === "string") { marker.hidden = false; marker.className = "live off"; marker.textContent = more; }
        else if (marker) { marker.hidden = false; marker.className = "live"; marker.textContent = "live"; }
        if (more === false) { stopped = true; if (marker) { marker.className = "live off"; marker.textContent = "finished"; } return; }
      } catch (e) {
        if (marker) { marker.hidden = false; marker.className = "live off"; marker.textContent = "offline"; }
      }
    }
    timer = setTimeout(tick, ms);
  }
  timer = setTimeout(tick, ms);
  return () => { stopped = true; clearTimeout(timer); };
};

EF.palette = ["#2f6fde", "#e0663a", "#1c8c4e", "#9b4dca", "#c98a12", "#0b7285", "#c23b3b", "#6b7385",
  "#5c940d", "#d6336c", "#364fc7", "#862e9c"];
EF.outcomeColor = function (o) {
  return { ok: "#1c8c4e", error: "#c23b3b", timeout: "#c98a12", oom: "#862e9c", killed: "#5f3dc4",
    invalid_result: "#e0663a", sandbox_failure: "#6b7385", unknown: "#adb5bd" }[o] || "#868e96";
};
// the colour of a program without a correct score (grid cells, lineage nodes, their keys)
EF.noScore = "#d0d4db";
// score colour: t in [0,1] from blue (low) to yellow (high), viridis-like
EF.ramp = function (t) {
  if (t === null || t === undefined || Number.isNaN(t)) return EF.noScore;
  t = Math.max(0, Math.min(1, t));
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return "rgb(" + c.join(",") + ")";
};

EF.param = (name) => new URLSearchParams(window.location.search).get(name);
EF.pathPart = (i) => decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[i] || "");
