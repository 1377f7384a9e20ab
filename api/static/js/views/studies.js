// Studies list: every study with its state counts and progress, newest first, refreshed while any runs.

import { get, listOf, nextCursorOf } from "../api.js";
import { h, clear, fmtTime, fmtTimeTitle, errorText } from "../dom.js";
import { studyUrl } from "../router.js";
import { statusBadge } from "./list.js";

const REFRESH_MS = 4000;

export function countsText(counts) {
  return Object.entries(counts || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${n} ${status}`)
    .join(", ");
}

export function studyProgress(study) {
  const pct = Math.round((study.fraction || 0) * 1000) / 10;
  return h(
    "div",
    { class: "progress-cell" },
    h(
      "div",
      { class: `progress progress-${study.status}`, role: "progressbar", "aria-label": `progress of ${study.name}`, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) },
      h("div", { class: "progress-bar", style: `width:${pct}%` }),
    ),
    h("div", { class: "progress-text" }, countsText(study.counts)),
  );
}

export async function render(root) {
  const tbody = h("tbody");
  const status = h("p", { class: "list-status muted", role: "status", "aria-live": "polite" });
  const moreBtn = h("button", { type: "button", class: "btn", hidden: true, onclick: () => load(cursor) }, "Load more");
  let cursor = null;
  let stopped = false;

  root.append(
    h(
      "section",
      { class: "page" },
      h("div", { class: "page-head" }, h("h1", null, "Studies")),
      h(
        "p",
        { class: "muted" },
        "A study runs a grid of searches (methods × A2M on/off × seeds, or any spec fields) and compares its cells over seeds. Submit one with ",
        h("code", null, "flatnas study submit study.yaml"),
        " or POST /studies.",
      ),
      h(
        "div",
        { class: "card table-card" },
        h(
          "table",
          { class: "studies-table" },
          h("thead", null, h("tr", null, ["Name", "Status", "Searches", "Progress", "Axes", "Created"].map((t) => h("th", { scope: "col" }, t)))),
          tbody,
        ),
        status,
        moreBtn,
      ),
    ),
  );

  const row = (study) =>
    h(
      "tr",
      { "data-id": study.id },
      h("td", null, h("a", { href: studyUrl(study.id), "data-link": "" }, study.name)),
      h("td", null, statusBadge(study.status, study.cancel_requested)),
      h("td", { class: "num" }, String(study.searches)),
      h("td", null, studyProgress(study)),
      h("td", null, study.axes.map((a) => h("code", { class: "axis" }, a))),
      h("td", { title: fmtTimeTitle(study.created_at) }, fmtTime(study.created_at)),
    );

  async function load(after = null) {
    try {
      const body = await get(`/studies?limit=50${after ? `&cursor=${encodeURIComponent(after)}` : ""}`);
      const items = listOf(body, "items");
      if (!after) clear(tbody);
      items.forEach((s) => tbody.append(row(s)));
      cursor = nextCursorOf(body);
      moreBtn.hidden = !cursor;
      status.textContent = tbody.children.length ? "" : "No studies yet.";
      return items;
    } catch (err) {
      status.textContent = `Could not load studies: ${errorText(err)}`;
      return [];
    }
  }

  const first = await load();
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    const items = await load();
    if (items.some((s) => ["queued", "running"].includes(s.status))) timer = setTimeout(tick, REFRESH_MS);
  };
  if (first.some((s) => ["queued", "running"].includes(s.status))) timer = setTimeout(tick, REFRESH_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
