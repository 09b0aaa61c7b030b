// Small SVG charts written for this dashboard (no chart library). Text goes through
// textContent; tooltips are SVG <title> elements.
"use strict";

const Charts = {};
const SVGNS = "http://www.w3.org/2000/svg";

Charts.S = function (tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return el;
};

Charts.title = (text) => { const t = document.createElementNS(SVGNS, "title"); t.textContent = text; return t; };

// Round tick values between lo and hi, about n of them; whole numbers only with `integer`
// (an axis of evaluations has no 0.5). out.step is their spacing.
function ticks(lo, hi, n, integer) {
  if (!(hi > lo)) return Object.assign([lo], { step: 1 });
  const step0 = Number.isFinite(hi - lo) ? (hi - lo) / n : hi / n - lo / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  if (integer) step = Math.max(1, Math.round(step));
  const out = [];
  for (let v = Math.ceil(lo / step) * step; Number.isFinite(v) && v <= hi + step * 1e-9 && out.length <= 4 * n; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return Object.assign(out, { step });
}

// Ticks of a time axis (seconds) at whole seconds, minutes or hours: steps of 100 s read
// "100.0 s, 3.3 min, 5.0 min, 6.7 min". Below a second, as any axis.
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
function timeTicks(lo, hi, n) {
  const step0 = (hi - lo) / n, step = TIME_STEPS.find((s) => s >= step0);
  if (!(hi > lo) || step0 < 1 || step === undefined) return ticks(lo, hi, n);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return Object.assign(out, { step });
}

// A tick's label with as many decimals as its spacing needs: 0.5, not 0.500.
function tickLabel(v, step) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return EF.num(v, 2).replace(/\.?0+e/, "e");  // 1e+308, not 1.00e+308
  const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

// [lo, hi] of the values, padded; one value v is shown on [v - 1, v + 1], or from 0 when
// v >= 0 (a time or a count is never negative)
function extent(values, pad) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { lo = lo >= 0 ? Math.max(0, lo - 1) : lo - 1; hi += 1; }
  const p = Number.isFinite(hi - lo) ? (hi - lo) * (pad || 0) : (hi / 2 - lo / 2) * (2 * (pad || 0));
  return [Math.max(lo - p, -Number.MAX_VALUE), Math.min(hi + p, Number.MAX_VALUE)];
}

// Where v lies between lo and hi (0 to 1). hi - lo overflows to Infinity for values near
// the largest float (scores of -1e308 and 1e308): then from their halves, which cannot.
function frac(v, lo, hi) {
  const d = hi - lo;
  if (Number.isFinite(d)) return (v - lo) / (d || 1);
  return (v / 2 - lo / 2) / (hi / 2 - lo / 2);
}

// frame: axes, grid and scales for a W x H viewBox
function frame(svg, xs, ys, opts) {
  const W = 640, H = 240, m = { l: 62, r: 12, t: 10, b: 30 };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  let [x0, x1] = opts.xDomain || extent(xs, 0);
  if (opts.xMin !== undefined && x0 < opts.xMin) x0 = opts.xMin;
  const [y0, y1] = opts.yDomain || extent(ys, 0.05);
  const yt = ticks(y0, y1, 5, opts.yInteger);
  const yLabels = yt.map((t) => tickLabel(t, yt.step));
  // room for the longest y label (about 7 units a character at 11px): -1.00e+308 was cut
  // off at the chart's left edge
  m.l = Math.max(m.l, 14 + 7 * Math.max(0, ...yLabels.map((l) => l.length)));
  const sx = (v) => m.l + frac(v, x0, x1) * (W - m.l - m.r);
  const sy = (v) => H - m.b - frac(v, y0, y1) * (H - m.t - m.b);
  yt.forEach((t, i) => {
    svg.appendChild(Charts.S("line", { class: "grid", x1: m.l, x2: W - m.r, y1: sy(t), y2: sy(t) }));
    svg.appendChild(Charts.S("text", { class: "ytick", x: m.l - 6, y: sy(t) + 4, "text-anchor": "end" }, yLabels[i]));
  });
  const xt = opts.xTime ? timeTicks(x0, x1, 6) : ticks(x0, x1, 6, opts.xInteger);
  for (const t of xt) {
    const label = opts.xFormat ? opts.xFormat(t) : tickLabel(t, xt.step);
    // centred under its tick, but inside the chart: the last one ("25 min", "1e+308") was
    // cut off at the right edge (about 3.5 units for half a character at 11px)
    const half = 3.5 * label.length + 1;
    const x = Math.min(Math.max(sx(t), half), W - half);
    svg.appendChild(Charts.S("text", { class: "xtick", x, y: H - m.b + 16, "text-anchor": "middle" }, label));
  }
  svg.appendChild(Charts.S("line", { class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
  svg.appendChild(Charts.S("line", { class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
  if (opts.xLabel) svg.appendChild(Charts.S("text", { x: W - m.r, y: H - 2, "text-anchor": "end" }, opts.xLabel));
  return { sx, sy, W, H, m };
}

function legend(items) {
  return EF.E("div", { class: "legend" }, items.map((it) => {
    const sw = EF.E("span", { class: "swatch" });
    sw.style.backgroundColor = it.color;
    return EF.E("span", {}, sw, it.name);
  }));
}

// series: [{name, points: [[x, y]...], color, step, dots}]
// opts.yFloor: the y axis starts there when some points are lower; those are drawn on the
// bottom edge (hollow, their value in the tooltip) and a note under the chart counts them.
Charts.line = function (container, series, opts) {
  opts = opts || {};
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    container.appendChild(EF.E("p", { class: "empty", text: opts.empty || "No data yet." }));
    return;
  }
  const floor = opts.yFloor;
  const below = floor === null || floor === undefined ? [] : all.filter((p) => p[1] < floor);
  const clip = below.length ? (v) => Math.max(v, floor) : (v) => v;
  const svg = Charts.S("svg", { role: "img", "aria-label": opts.label || "chart" });
  const f = frame(svg, all.map((p) => p[0]), all.map((p) => clip(p[1])), opts);
  for (const s of series) {
    if (!s.points.length) continue;
    if (s.dots) {
      const g = Charts.S("g", { fill: s.color, "fill-opacity": 0.35 });
      for (const p of s.points) {
        const low = p[1] < clip(p[1]);
        const c = Charts.S("circle", { cx: f.sx(p[0]), cy: f.sy(clip(p[1])), r: 2, class: low ? "below" : null,
          fill: low ? "none" : null, stroke: low ? s.color : null });
        if (low) c.appendChild(Charts.title(`${EF.num(p[1])} at ${EF.num(p[0], 2)} (below the axis)`));
        g.appendChild(c);
      }
      svg.appendChild(g);
      continue;
    }
    let d = "";
    s.points.forEach((p, i) => {
      const x = f.sx(p[0]), y = f.sy(clip(p[1]));
      if (i === 0) d += `M${x},${y}`;
      else d += s.step ? `H${x}V${y}` : `L${x},${y}`;
    });
    const path = Charts.S("path", { d, fill: "none", stroke: s.color, "stroke-width": s.width || 2 });
    path.appendChild(Charts.title(s.name));
    svg.appendChild(path);
    const last = s.points[s.points.length - 1];
    const end = Charts.S("circle", { cx: f.sx(last[0]), cy: f.sy(clip(last[1])), r: 3, fill: s.color });
    end.appendChild(Charts.title(`${s.name}: ${EF.num(last[1])} at ${EF.num(last[0], 2)}`));
    svg.appendChild(end);
  }
  container.appendChild(svg);
  // opts.legend: named even when alone (a compare panel of one campaign)
  if (series.length > 1 || opts.legend) container.appendChild(legend(series.filter((s) => s.points.length)));
  if (below.length) {
    const lowest = Math.min(...below.map((p) => p[1]));
    container.appendChild(EF.E("p", { class: "muted below-note", text: `${below.length} point${below.length > 1 ? "s" : ""} ` +
      `below ${EF.num(floor)} (the lowest ${EF.num(lowest)}) drawn on the bottom edge, to keep the progress readable` }));
  }
};

// Stacked bars: buckets (x starts), layers {name: counts[]}
Charts.stacked = function (container, buckets, layers, opts) {
  opts = opts || {};
  const names = Object.keys(layers);
  if (!buckets.length || !names.length) {
    container.appendChild(EF.E("p", { class: "empty", text: opts.empty || "No evaluations yet." }));
    return;
  }
  const totals = buckets.map((_, i) => names.reduce((a, n) => a + layers[n][i], 0));
  const width = opts.bucketWidth || (buckets.length > 1 ? buckets[1] - buckets[0] : 1);
  const svg = Charts.S("svg", { role: "img", "aria-label": opts.label || "stacked bars" });
  const f = frame(svg, [buckets[0], buckets[buckets.length - 1] + width], [0, ...totals],
    { yDomain: [0, Math.max(1, ...totals) * 1.05], yInteger: true, xFormat: opts.xFormat, xTime: opts.xTime, xLabel: opts.xLabel });
  buckets.forEach((b, i) => {
    let acc = 0;
    for (const n of names) {
      const v = layers[n][i];
      if (!v) continue;
      const x = f.sx(b), w = Math.max(1, f.sx(b + width) - f.sx(b) - 1);
      const rect = Charts.S("rect", { x, y: f.sy(acc + v), width: w, height: f.sy(acc) - f.sy(acc + v), fill: opts.color(n) });
      rect.appendChild(Charts.title(`${n}: ${v}`));
      svg.appendChild(rect);
      acc += v;
    }
  });
  container.appendChild(svg);
  container.appendChild(legend(names.map((n) => ({ name: n, color: opts.color(n) }))));
};

// Scatter of [x, y, id] points; front drawn as a step line; click opens the program.
Charts.scatter = function (container, others, front, opts) {
  if (!others.length && !front.length) {
    container.appendChild(EF.E("p", { class: "empty", text: opts.empty || "No points." }));
    return;
  }
  const all = others.concat(front);
  const svg = Charts.S("svg", { role: "img", "aria-label": opts.label || "scatter" });
  const f = frame(svg, all.map((p) => p[0]), all.map((p) => p[1]), { xLabel: opts.xLabel });
  const dot = (p, color, r) => {
    const a = Charts.S("a", { href: "/programs/" + Number(p[2]) });
    const c = Charts.S("circle", { cx: f.sx(p[0]), cy: f.sy(p[1]), r, fill: color, "fill-opacity": 0.8 });
    c.appendChild(Charts.title(`#${p[2]}: ${opts.xName}=${EF.num(p[0])}, ${opts.yName}=${EF.num(p[1])}`));
    a.appendChild(c);
    return a;
  };
  for (const p of others) svg.appendChild(dot(p, "#adb5bd", 2.5));
  const sorted = front.slice().sort((a, b) => a[0] - b[0]);
  if (sorted.length > 1) {
    const d = sorted.map((p, i) => (i ? "L" : "M") + f.sx(p[0]) + "," + f.sy(p[1])).join("");
    svg.appendChild(Charts.S("path", { d, fill: "none", stroke: "#e0663a", "stroke-width": 1.5 }));
  }
  for (const p of front) svg.appendChild(dot(p, "#e0663a", 4));
  container.appendChild(svg);
  container.appendChild(legend([{ name: `Pareto front (${front.length})`, color: "#e0663a" },
    { name: "dominated", color: "#adb5bd" }]));
};

// A key to EF.ramp's colours: a gradient bar with marks [[t, label]...] (t from 0 to 1)
// under it, so that a page coloured by score says which colour is which score; width in
// pixels, room for three labels of width / 3 (about 6.5 a character).
let rampKeys = 0;  // gradient ids: one page may hold several keys
Charts.rampKey = function (marks, label, width) {
  const W = width || 320, H = 32, pad = 2, id = "ramp-key-" + ++rampKeys;
  const svg = Charts.S("svg", { class: "ramp-key", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": label });
  const grad = Charts.S("linearGradient", { id, x1: 0, x2: 1, y1: 0, y2: 0 });
  for (let k = 0; k <= 8; k++) grad.appendChild(Charts.S("stop", { offset: k / 8, "stop-color": EF.ramp(k / 8) }));
  svg.appendChild(Charts.S("defs", {}, grad));
  svg.appendChild(Charts.S("rect", { x: pad, y: 1, width: W - 2 * pad, height: 12, fill: `url(#${id})`, stroke: "#c9ced8" }));
  for (const [t, text] of marks) {
    const x = pad + t * (W - 2 * pad);
    svg.appendChild(Charts.S("line", { x1: x, x2: x, y1: 13, y2: 17, stroke: "#6b7385" }));
    // the end labels inside the key: "-1.500e+308" centred on the edge was cut off
    const anchor = t <= 0 ? "start" : t >= 1 ? "end" : "middle";
    svg.appendChild(Charts.S("text", { class: "ramp-tick", x: t <= 0 ? 0 : t >= 1 ? W : x, y: 29, "text-anchor": anchor }, text));
  }
  return svg;
};
