// Searches list: filters, search box, live progress (SSE for running searches plus a light refresh).

import { get, listOf, nextCursorOf, openEventStream, ApiError } from "../api.js";
import { h, clear, morph, fmtAcc, fmtDuration, fmtDateTime, fmtTimeTitle, errorText, debounce } from "../dom.js";
import { STATUSES, ACTIVE, loadCatalogue, methodOf, spaceOf, datasetOf, a2mOf, tagsOf, nameOf, progressOf, bestValAccOf, epochLabel, activityLabel, specOf } from "../model.js";
import { searchUrl, compareUrl, navigate } from "../router.js";

const REFRESH_MS = 4000;
// Browsers allow ~6 HTTP/1.1 connections per host; streams beyond this would starve page requests.
const MAX_STREAMS = 3;
const FILTERS = ["status", "method", "space", "dataset", "tag", "q"];

/** Seconds from start to finish (or to now while it runs); null before it started. */
function durationOf(s) {
  if (!s.started_at) return null;
  const end = s.finished_at ? new Date(s.finished_at) : new Date();
  return Math.max(0, (end - new Date(s.started_at)) / 1000);
}

// [header, sort key]; the value each key sorts by is in SORT_VALUES.
const COLUMNS = [
  ["Name", "name"],
  ["Status", "status"],
  ["Method", "method"],
  ["Space", "space"],
  ["Dataset", "dataset"],
  ["Progress", "progress"],
  ["Best val acc", "best"],
  ["Seed", "seed"],
  ["Created", "created"],
  ["Started", "started"],
  ["Finished", "finished"],
  ["Duration", "duration"],
];
const SORT_VALUES = {
  name: (s) => String(nameOf(s)).toLowerCase(),
  status: (s) => s.status,
  method: (s) => methodOf(s),
  space: (s) => spaceOf(s),
  dataset: (s) => datasetOf(s),
  progress: (s) => progressOf(s).fraction,
  best: (s) => bestValAccOf(s),
  seed: (s) => s.seed ?? specOf(s).seed ?? null,
  created: (s) => s.created_at ?? null,
  started: (s) => s.started_at ?? null,
  finished: (s) => s.finished_at ?? null,
  duration: (s) => durationOf(s),
};
const CSV_FIELDS = [
  ["id", (s) => s.id],
  ["name", (s) => nameOf(s)],
  ["status", (s) => s.status],
  ["method", (s) => methodOf(s)],
  ["a2m", (s) => a2mOf(s)],
  ["space", (s) => spaceOf(s)],
  ["dataset", (s) => datasetOf(s)],
  ["seed", (s) => s.seed ?? specOf(s).seed],
  ["epochs", (s) => s.epochs ?? specOf(s).epochs],
  ["best_val_acc", (s) => bestValAccOf(s)],
  ["created_at", (s) => s.created_at],
  ["started_at", (s) => s.started_at],
  ["finished_at", (s) => s.finished_at],
  ["duration_s", (s) => (durationOf(s) === null ? null : Math.round(durationOf(s)))],
  ["tags", (s) => tagsOf(s).join(" ")],
];

export function statusBadge(status, cancelRequested = false) {
  const text = cancelRequested && ACTIVE.has(status) ? `${status} · cancelling` : status;
  return h("span", { class: `badge status status-${status}`, "data-status": status }, text);
}

export function methodCell(s) {
  return h("span", { class: "method" }, methodOf(s), a2mOf(s) ? h("span", { class: "badge a2m", title: "Architecture-Aware Minimization on" }, "A2M") : null);
}

export function progressBar(s, { compact = false } = {}) {
  const p = progressOf(s);
  const pct = Math.round(p.fraction * 1000) / 10;
  const parts = [];
  if (p.epoch !== null && p.totalEpochs) parts.push(epochLabel(Math.min(p.epoch, p.totalEpochs - 1), p.totalEpochs));
  if (!compact && p.steps && s.status === "running") parts.push(`step ${p.step}/${p.steps}`);
  if (!compact && p.phase && s.status === "running") parts.push(activityLabel(p.phase, p.detail));
  if (ACTIVE.has(s.status) && p.eta !== null) parts.push(`ETA ${fmtDuration(p.eta)}`);
  if (s.status === "succeeded") parts.push("done");
  return h(
    "div",
    { class: "progress-cell" },
    h(
      "div",
      { class: `progress progress-${s.status}`, role: "progressbar", "aria-label": `progress of ${nameOf(s)}`, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) },
      h("div", { class: "progress-bar", style: `width:${pct}%` }),
    ),
    h("div", { class: "progress-text" }, parts.join(" · ") || (s.status === "queued" ? "waiting for a worker" : "")),
  );
}

export async function render(root, _params, { setLive }) {
  const catalogue = await loadCatalogue();
  const query = new URLSearchParams(location.search);
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) || ""]));
  const highlight = query.get("new");
  const selected = new Set();
  const rows = new Map(); // id -> {search, tr}
  const streams = new Map(); // id -> stream
  const streamStates = new Map(); // id -> "open" | "reconnecting" | "closed"
  // The header dot is green while any stream is open, amber while all of them are reconnecting.
  const showLive = () => {
    const states = [...streamStates.values()];
    setLive(states.includes("open") ? "open" : states.includes("reconnecting") ? "reconnecting" : null);
  };
  let cursor = null;
  let stopped = false;
  let inFlight = false;

  const tbody = h("tbody");
  const status = h("p", { class: "list-status muted", role: "status", "aria-live": "polite" });
  const compareBtn = h("button", { type: "button", class: "btn", disabled: true, onclick: () => navigate(compareUrl([...selected])) }, "Compare selected");
  const moreBtn = h("button", { type: "button", class: "btn", hidden: true, onclick: () => refresh({ more: true }) }, "Load more");
  const csvBtn = h("button", { type: "button", class: "btn", "data-action": "export-csv", onclick: () => exportCsv() }, "Export CSV");
  // Sorting is client-side, over the rows loaded: {key, dir: 1 | -1}, null for the server's order.
  let sort = null;
  const headCells = COLUMNS.map(([label, key]) =>
    h(
      "th",
      { scope: "col", "data-sort": key, "aria-sort": "none" },
      h("button", { type: "button", class: "sort-btn", onclick: () => sortBy(key) }, label),
    ),
  );

  const select = (name, label, options) =>
    h(
      "label",
      { class: "filter" },
      h("span", null, label),
      h(
        "select",
        { name, "data-filter": name, onchange: (ev) => setFilter(name, ev.target.value) },
        h("option", { value: "" }, "all"),
        options.map((o) => h("option", { value: o, selected: filters[name] === o }, o)),
      ),
    );
  const qInput = h("input", { type: "search", name: "q", value: filters.q, placeholder: "name or tag", "aria-label": "Search by name or tag" });
  qInput.addEventListener("input", debounce(() => setFilter("q", qInput.value.trim()), 300));
  const tagInput = h("input", { type: "text", name: "tag", value: filters.tag, placeholder: "any", size: 10 });
  tagInput.addEventListener("input", debounce(() => setFilter("tag", tagInput.value.trim()), 300));

  root.append(
    h(
      "section",
      { class: "page" },
      h(
        "div",
        { class: "page-head" },
        h("h1", null, "Searches"),
        h("div", { class: "page-actions" }, compareBtn, csvBtn, h("a", { class: "btn btn-primary", href: "/dashboard/submit", "data-link": "" }, "New search")),
      ),
      h(
        "div",
        { class: "toolbar", role: "search" },
        h("label", { class: "filter filter-q" }, h("span", null, "Search"), qInput),
        select("status", "Status", STATUSES),
        select("method", "Method", catalogue.methods.map((m) => m.name)),
        select("space", "Space", catalogue.spaces.map((sp) => sp.name)),
        select("dataset", "Dataset", catalogue.datasets.map((d) => d.name)),
        h("label", { class: "filter" }, h("span", null, "Tag"), tagInput),
      ),
      h(
        "div",
        { class: "card table-card" },
        h(
          "table",
          { class: "searches", "aria-label": "Searches" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              h("th", { scope: "col", class: "col-check" }, h("span", { class: "sr-only" }, "Select")),
              headCells,
            ),
          ),
          tbody,
        ),
      ),
      h("div", { class: "list-foot" }, status, moreBtn),
    ),
  );

  function sortBy(key) {
    sort = sort?.key === key ? (sort.dir === 1 ? { key, dir: -1 } : null) : { key, dir: 1 };
    for (const th of headCells) th.setAttribute("aria-sort", sort && th.dataset.sort === sort.key ? (sort.dir === 1 ? "ascending" : "descending") : "none");
    if (!sort) refresh();
    applySort();
  }

  function applySort() {
    if (!sort) return;
    const value = SORT_VALUES[sort.key];
    const entries = [...rows.entries()].sort(([, a], [, b]) => {
      const x = value(a.search), y = value(b.search);
      if (x === null || x === undefined) return 1; // blanks last either way
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * sort.dir;
    });
    placeInOrder(entries.map(([id]) => id));
  }

  function exportCsv() {
    const shown = [...tbody.querySelectorAll("tr[data-id]")].map((tr) => rows.get(tr.dataset.id)?.search).filter(Boolean);
    const cell = (v) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));
    const lines = [CSV_FIELDS.map(([name]) => name).join(","), ...shown.map((s) => CSV_FIELDS.map(([, f]) => cell(f(s))).join(","))];
    const url = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
    const a = h("a", { href: url, download: "searches.csv" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function setFilter(name, value) {
    filters[name] = value;
    const q = new URLSearchParams();
    for (const f of FILTERS) if (filters[f]) q.set(f, filters[f]);
    history.replaceState(null, "", `${location.pathname}${q.toString() ? "?" + q : ""}`);
    cursor = null;
    refresh({ reset: true });
  }

  function matchesClientSide(s) {
    // The API filters; this keeps rows consistent while live updates change a row's status.
    if (filters.status && s.status !== filters.status) return false;
    if (filters.q) {
      const needle = filters.q.toLowerCase();
      const hay = [nameOf(s), String(s.id), ...tagsOf(s)].join(" ").toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }

  function rowFor(s) {
    const id = String(s.id);
    const check = h("input", {
      type: "checkbox",
      "aria-label": `select ${nameOf(s)} for comparison`,
      checked: selected.has(id),
      onchange: (ev) => {
        if (ev.target.checked) selected.add(id);
        else selected.delete(id);
        compareBtn.disabled = selected.size < 2;
        compareBtn.textContent = selected.size >= 2 ? `Compare ${selected.size}` : "Compare selected";
      },
    });
    const tags = tagsOf(s);
    const best = bestValAccOf(s);
    return h(
      "tr",
      { "data-id": id, "data-status": s.status, class: id === highlight ? "row-new" : "" },
      h("td", { class: "col-check" }, check),
      h("td", { class: "col-name" }, h("a", { href: searchUrl(id), "data-link": "", class: "clip-name", title: nameOf(s) }, nameOf(s)), tags.length ? h("div", { class: "tags" }, tags.map((t) => h("span", { class: "tag" }, t))) : null),
      h("td", null, statusBadge(s.status, s.cancel_requested)),
      h("td", null, methodCell(s)),
      h("td", null, spaceOf(s)),
      h("td", null, datasetOf(s)),
      h("td", { class: "col-progress" }, progressBar(s)),
      h("td", { class: "num", "data-col": "best" }, best === null ? "–" : fmtAcc(best)),
      h("td", { class: "num", "data-col": "seed" }, String(s.seed ?? specOf(s).seed ?? "–")),
      h("td", { "data-col": "created", title: fmtTimeTitle(s.created_at) }, fmtDateTime(s.created_at)),
      h("td", { "data-col": "started", title: fmtTimeTitle(s.started_at) }, fmtDateTime(s.started_at)),
      h("td", { "data-col": "finished", title: fmtTimeTitle(s.finished_at) }, fmtDateTime(s.finished_at)),
      h("td", { class: "num", "data-col": "duration" }, durationOf(s) === null ? "–" : fmtDuration(durationOf(s))),
    );
  }

  function upsertRow(s, { prepend = false } = {}) {
    const id = String(s.id);
    const existing = rows.get(id);
    if (existing) {
      // Updated in place (every progress event): a row link being clicked stays the same node.
      morph(existing.tr, rowFor(s));
      existing.search = s;
      return;
    }
    const tr = rowFor(s);
    if (prepend) tbody.prepend(tr);
    else tbody.append(tr);
    rows.set(id, { search: s, tr });
  }

  /** Rows in `ids` order at the top of the table, moving only the rows that are out of place. */
  function placeInOrder(ids) {
    let prev = null;
    for (const id of ids) {
      const tr = rows.get(id).tr;
      const expected = prev ? prev.nextElementSibling : tbody.firstElementChild;
      if (expected !== tr) {
        if (prev) prev.after(tr);
        else tbody.prepend(tr);
      }
      prev = tr;
    }
  }

  const refreshOne = new Map();
  function scheduleRowRefresh(id) {
    if (!refreshOne.has(id)) {
      refreshOne.set(
        id,
        debounce(async () => {
          try {
            const s = await get(`/searches/${encodeURIComponent(id)}`);
            if (!stopped && rows.has(id)) upsertRow(s);
          } catch {
            /* the periodic refresh catches up */
          }
        }, 700),
      );
    }
    refreshOne.get(id)();
  }

  function onEvent(id, type, data) {
    const entry = rows.get(id);
    if (!entry || !data || typeof data !== "object") return scheduleRowRefresh(id);
    const s = { ...entry.search };
    if (data.status) s.status = data.status;
    const prog = data.progress ?? (typeof data.step === "number" || type === "progress" ? data : null);
    if (prog && typeof prog === "object") s.progress = { ...(s.progress || {}), ...prog };
    if (typeof data.eta_seconds === "number") s.eta_seconds = data.eta_seconds;
    upsertRow(s);
    if (type !== "progress") scheduleRowRefresh(id);
  }

  function reconcileStreams() {
    const active = [...rows.values()].filter((r) => ACTIVE.has(r.search.status)).map((r) => String(r.search.id));
    const wanted = new Set(active.slice(0, MAX_STREAMS));
    for (const [id, st] of streams) {
      if (!wanted.has(id)) {
        st.stop();
        streams.delete(id);
        streamStates.delete(id);
      }
    }
    for (const id of wanted) {
      if (streams.has(id)) continue;
      streams.set(
        id,
        // The list needs progress and status only: history=false skips the replay of past results.
        openEventStream(`/searches/${encodeURIComponent(id)}/events?history=false`, (type, data) => onEvent(id, type, data), {
          shouldReconnect: () => !stopped && ACTIVE.has(rows.get(id)?.search.status),
          onState: (st) => {
            streamStates.set(id, st);
            showLive();
          },
        }),
      );
    }
    showLive();
  }

  async function refresh({ reset = false, more = false } = {}) {
    if (inFlight || stopped) return;
    inFlight = true;
    try {
      const q = new URLSearchParams();
      for (const f of FILTERS) if (filters[f]) q.set(f, filters[f]);
      q.set("limit", "50");
      if (more && cursor) q.set("cursor", cursor);
      const body = await get(`/searches?${q}`);
      const items = listOf(body, "searches").filter(matchesClientSide);
      if (reset) {
        clear(tbody);
        rows.clear();
      }
      if (!more) {
        // Keep the table in the server's newest-first order; rows no longer returned are dropped.
        const seen = new Set(items.map((s) => String(s.id)));
        for (const [id, r] of rows) {
          if (!seen.has(id) && !r.loadedMore) {
            r.tr.remove();
            rows.delete(id);
          }
        }
        items.forEach((s) => upsertRow(s));
        placeInOrder(items.map((s) => String(s.id)));
        cursor = nextCursorOf(body);
      } else {
        items.forEach((s) => {
          upsertRow(s);
          rows.get(String(s.id)).loadedMore = true;
        });
        cursor = nextCursorOf(body);
      }
      moreBtn.hidden = !cursor;
      status.textContent = rows.size ? `${rows.size} search${rows.size === 1 ? "" : "es"} · updated ${new Date().toLocaleTimeString()}` : "";
      if (!rows.size) {
        clear(tbody);
        const anyFilter = FILTERS.some((f) => filters[f]);
        tbody.append(
          h(
            "tr",
            { class: "empty-row" },
            h("td", { colspan: String(COLUMNS.length + 1) }, anyFilter ? "No searches match these filters." : h("span", null, "No searches yet. ", h("a", { href: "/dashboard/submit", "data-link": "" }, "Submit the first one"), ".")),
          ),
        );
      } else {
        tbody.querySelector(".empty-row")?.remove();
        applySort();
      }
      reconcileStreams();
    } catch (err) {
      status.textContent = `Could not load searches: ${errorText(err)}`;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) stopped = true;
    } finally {
      inFlight = false;
    }
  }

  await refresh({ reset: true });
  const timer = setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, REFRESH_MS);

  return () => {
    stopped = true;
    clearInterval(timer);
    for (const st of streams.values()) st.stop();
    streams.clear();
  };
}
