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

// MAP-Elites heatmap as a CSS grid of cells (colours set through the CSSOM), framed by
// each feature's name and its ticks: the value of each cell of an integer axis with a cell
// per value, else the bin edges (thinned to what fits).
Charts.heatmap = function (container, grid) {
  const cells = grid.cells || [];
  if (!cells.length) {
    container.appendChild(EF.E("p", { class: "empty", text: "No program has behaviour features, so there is no MAP-Elites grid." }));
    return;
  }
  const nx = grid.x.bins, ny = grid.y.bins;
  const scores = cells.map((c) => c.best).filter((v) => v !== null);
  const [lo, hi] = scores.length ? extent(scores, 0) : [0, 1];
  const byKey = new Map(cells.map((c) => [c.i + "," + c.j, c]));
  const box = EF.E("div", { class: "heat" });
  box.style.gridTemplateColumns = `repeat(${nx}, 1fr)`;
  for (let j = ny - 1; j >= 0; j--) {
    for (let i = 0; i < nx; i++) {
      const c = byKey.get(i + "," + j);
      const cell = EF.E("div", { class: c ? "" : "emptycell" });
      if (c) {
        cell.style.backgroundColor = c.best === null ? "#d0d4db" : EF.ramp(frac(c.best, lo, hi));
        cell.title = `${cellName(grid.x, i)}${grid.y.name ? ", " + cellName(grid.y, j) : ""}: ` +
          (c.id === null ? "no correct program" : `best ${EF.num(c.best)} (#${c.id})`) +  // not "best – (#null)"
          `, ${c.count} program${c.count === 1 ? "" : "s"}`;
        if (c.id !== null) cell.addEventListener("click", () => { window.location.href = "/programs/" + Number(c.id); });
      }
      box.appendChild(cell);
    }
  }
  // the cells are square: the grid is as tall as its width times ny / nx
  const width = Math.max(200, (container.clientWidth || 420) - 80);
  const frameBox = EF.E("div", { class: "heat-frame" },
    EF.E("div", { class: "heat-yname", text: grid.y.name || "" }),
    heatTicks(grid.y, "y", width * ny / nx),
    box,
    EF.E("div"), EF.E("div"),
    heatTicks(grid.x, "x", width),
    EF.E("div"), EF.E("div"),
    EF.E("div", { class: "heat-xname", text: grid.x.name }));
  container.appendChild(frameBox);
  const ax = (a) => a.name ? `${a.name}: ${EF.num(a.min, 3)} … ${EF.num(a.max, 3)}` +
    (a.declared ? ` in ${a.bins} cells, as declared` : "") : "";
  container.appendChild(EF.E("p", { class: "muted", text: `x ${ax(grid.x)}${grid.y.name ? " · y " + ax(grid.y) : ""} · ` +
    `${cells.length} cells with programs · colour: best score ${EF.num(lo)} … ${EF.num(hi)}` }));
  if (scores.length) {
    const key = Charts.rampKey([[0, EF.num(lo)], [0.5, EF.num(lo / 2 + hi / 2)], [1, EF.num(hi)]],
      `best score colours: from ${EF.num(lo)} to ${EF.num(hi)}`);
    container.appendChild(EF.E("div", { class: "legend colour-key heat-key" }, EF.E("span", { text: "best score" }), key));
  }
  // the search's own measure, where the grid is the declared one: cells holding a correct
  // program (from any island) out of the cells a program can reach (an integer axis has
  // one per value)
  const cov = grid.coverage;
  if (cov) {
    container.appendChild(EF.E("p", { id: "grid-coverage", text: `coverage: ${cov.filled} of ${cov.cells} cells ` +
      `hold a correct program (${EF.num(100 * cov.filled / cov.cells, 1)}%)` }));
  }
};

// The width of a cell of an axis; (max - min) / bins overflows to Infinity for features
// near the largest float (-1e308 to 1e308), its halves do not.
function cellWidth(a) {
  const d = a.max - a.min;
  return Number.isFinite(d) ? d / a.bins : a.max / a.bins - a.min / a.bins;
}

// The lower edge of cell i of an axis (i = bins: its upper end); where the range
// overflows, i cells of its width can too: then as a mix of the ends, which cannot.
function cellEdge(a, i) {
  if (i >= a.bins) return a.max;
  if (Number.isFinite(a.max - a.min)) return a.min + i * cellWidth(a);
  const f = i / a.bins;
  return a.min * (1 - f) + a.max * f;
}

// A bin edge as short as its cells allow: 0.25 (not 0.3) for cells of a quarter, 12.3 for
// cells of about ten; exponents beyond 1e6 (1.5e+308).
function edgeLabel(v, w) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return EF.num(v, 2).replace(/\.?0+e/, "e");
  const decimals = Math.min(6, Math.max(0, 1 - Math.floor(Math.log10(Math.abs(w) || 1))));
  const t = v.toFixed(decimals);
  return (t.includes(".") ? t.replace(/\.?0+$/, "") : t).replace(/^-0$/, "0");
}

// The ticks of an axis as [position 0..1 from its start, label]: an axis of a cell per
// value names each cell's value at its centre, another its bin edges; every k-th of them
// so that labels do not overlap in `length` pixels (about 7 a character across, 16 down).
function heatTickMarks(a, dir, length) {
  if (!a.name) return [];
  const byValue = a.origin !== undefined;
  const w = cellWidth(a);
  const all = [];
  if (byValue) for (let i = 0; i < a.bins; i++) all.push([(i + 0.5) / a.bins, String(a.origin + i)]);
  else for (let i = 0; i <= a.bins; i++) all.push([i / a.bins, edgeLabel(cellEdge(a, i), w)]);
  const room = dir === "x" ? 7 * Math.max(...all.map((m) => m[1].length)) + 10 : 16;
  const k = Math.max(1, Math.ceil(all.length / Math.max(2, Math.floor(length / room))));
  const out = all.filter((_, i) => i % k === 0);
  // the far end labelled too (the top of the range), in place of a mark too close to it
  const last = all[all.length - 1];
  if (out[out.length - 1] !== last) {
    if ((all.length - 1) % k < k / 2 && out.length > 1) out.pop();
    out.push(last);
  }
  return out;
}

function heatTicks(a, dir, length) {
  // edges: the first and last labels end at the grid's edges, not half beyond them
  const box = EF.E("div", { class: "heat-ticks heat-" + dir + "ticks" + (a.origin === undefined ? " edges" : "") });
  const marks = heatTickMarks(a, dir, length);
  // the labels are placed absolutely, so they do not widen their column: room for the
  // longest ("1.18e+308" ran over the feature's name)
  if (dir === "y") box.style.minWidth = Math.ceil(6.5 * Math.max(0, ...marks.map((m) => m[1].length)) + 2) + "px";
  for (const [pos, text] of marks) {
    const t = EF.E("span", { class: "heat-tick", text });
    // x: from the left; y: from the bottom (row 0 is drawn last, at the bottom)
    if (dir === "x") t.style.left = (100 * pos) + "%";
    else t.style.bottom = (100 * pos) + "%";
    box.appendChild(t);
  }
  return box;
}

// a cell of an axis as its tooltip names it: the value it holds (an integer axis with a cell
// per value) or the range it spans
function cellName(a, i) {
  if (a.origin !== undefined) return `${a.name} = ${a.origin + i}`;
  return `${a.name} ${EF.num(cellEdge(a, i), 3)} … ${EF.num(cellEdge(a, i + 1), 3)}`;
}
