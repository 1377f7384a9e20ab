// Line charts drawn by the vendored uPlot (window.uPlot, loaded by index.html as a classic script).

import { h, fmtNum } from "./dom.js";

export const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

/**
 * A chart that fills its container's width and follows resizes.
 * series: [{label, color, dash?, width?, points?}] (y series only); data: [xs, ys1, ys2, ...] (null = gap).
 * bands: [[upperSeries, lowerSeries, fill]] with 1-based series indices, shaded between the two.
 */
export function lineChart(container, { title, xLabel = "epoch", yLabel = "", series, data, height = 220, yRange = null, xRange = null, bands = [] }) {
  const holder = h("div", { class: "chart", role: "img", "aria-label": `${title} chart` });
  const empty = h("p", { class: "chart-empty" }, "No data yet.");
  container.append(h("div", { class: "chart-box" }, h("h4", { class: "chart-title" }, title), holder, empty));

  const opts = {
    width: Math.max(240, container.clientWidth - 8),
    height,
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false }, points: { size: 7 } },
    scales: { x: xRange ? { time: false, range: xRange } : { time: false }, y: yRange ? { range: yRange } : {} },
    axes: [
      { label: xLabel, labelSize: 18, size: 34, grid: { stroke: "#eef0f3" }, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] },
      {
        label: yLabel,
        labelSize: 18,
        size: 52,
        grid: { stroke: "#eef0f3" },
        // uPlot's own steps (1, 2, 2.5, 5 × 10^k) keep the ticks on round values; the drawn ones are
        // recorded for tests, as the axis itself is painted on a canvas.
        values: (u, vals) => {
          holder.dataset.yTicks = vals.join(",");
          return vals.map((v) => fmtNum(v, 3));
        },
      },
    ],
    hooks: {
      setScale: [
        (u, key) => {
          if (key === "x") holder.dataset.xMax = String(u.scales.x.max);
        },
      ],
    },
    series: [
      { label: xLabel, value: (u, v) => (v === null || v === undefined ? "–" : String(v)) },
      ...series.map((sr) => ({
        label: sr.label,
        stroke: sr.color,
        width: sr.width ?? 2,
        dash: sr.dash,
        spanGaps: true,
        points: { show: sr.points !== false, size: 5, fill: sr.color },
        value: (u, v) => fmtNum(v, 4),
      })),
    ],
    bands: bands.map(([upper, lower, fill]) => ({ series: [upper, lower], fill })),
  };
  const plot = new window.uPlot(opts, normalise(data, series.length), holder);
  const toggleEmpty = (d) => {
    const hasPoints = d[0] && d[0].length > 0;
    holder.dataset.points = String(d[0] ? d[0].length : 0); // what is drawn, for tests and debugging
    empty.hidden = hasPoints;
    holder.classList.toggle("is-empty", !hasPoints);
  };
  toggleEmpty(data);
  // uPlot skips a scale's range function when there is one x value (it then spans 0–100), so a
  // computed x range is set explicitly after every data change, and one epoch spans one epoch.
  const pinX = (d) => {
    const xs = (d[0] || []).filter(Number.isFinite);
    if (typeof xRange === "function") {
      const [min, max] = xRange(plot, xs.length ? Math.min(...xs) : null, xs.length ? Math.max(...xs) : null);
      plot.setScale("x", { min, max });
    } else if (!xRange && xs.length && Math.min(...xs) === Math.max(...xs)) {
      plot.setScale("x", { min: xs[0], max: xs[0] + 1 });
    }
  };
  pinX(data);

  const observer = new ResizeObserver(() => {
    const w = Math.max(240, container.clientWidth - 8);
    if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height });
  });
  observer.observe(container);

  return {
    plot,
    update(next) {
      plot.setData(normalise(next, series.length));
      toggleEmpty(next);
      pinX(next);
    },
    destroy() {
      observer.disconnect();
      plot.destroy();
    },
  };
}

/**
 * About `count` ticks on round values (1, 2, 2.5 or 5 × 10^k apart) covering [lo, hi]: {lo, hi,
 * ticks}, with lo and hi widened to the outer ticks so points never sit beyond the last label.
 */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) [lo, hi] = [lo - Math.max(Math.abs(lo) * 0.05, 1e-3), hi + Math.max(Math.abs(hi) * 0.05, 1e-3)];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((st) => st >= raw);
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (step / power === 2.5 ? 1 : 0));
  const ticks = [];
  for (let v = first; v <= last + step / 2; v += step) ticks.push(Number(v.toFixed(decimals)));
  return { lo: first, hi: last, ticks };
}

function normalise(data, n) {
  const xs = data[0] || [];
  const out = [xs];
  for (let i = 1; i <= n; i++) out.push((data[i] || []).map((v) => (typeof v === "number" && Number.isFinite(v) ? v : null)));
  return out;
}

/** Accuracy as a percentage whatever the stored scale (fraction or percent). */
export function asPercent(values) {
  const finite = values.filter((v) => typeof v === "number");
  const fractional = finite.length > 0 && finite.every((v) => v <= 1.0000001);
  return values.map((v) => (typeof v === "number" ? (fractional ? v * 100 : v) : null));
}
