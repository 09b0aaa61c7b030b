// The campaign page's MAP-Elites heatmap (Charts.heatmap), beside charts.js, whose
// extent, frac and Charts.rampKey it uses.
"use strict";

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
        cell.style.backgroundColor = c.best === null ? EF.noScore : EF.ramp(frac(c.best, lo, hi));
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
