// Bootstrap: API key gate, header, and the router that mounts one view at a time.

import { getKey, setKey } from "./api.js";
import { loadCatalog } from "./catalog.js";
import { h, clear } from "./dom.js";
import { match, navigate } from "./router.js";
import * as listView from "./views/list.js";
import * as searchView from "./views/search.js";
import * as compareView from "./views/compare.js";
import * as submitView from "./views/submit.js";
import * as studiesView from "./views/studies.js";
import * as studyView from "./views/study.js";

const VIEWS = { list: listView, search: searchView, compare: compareView, submit: submitView, studies: studiesView, study: studyView };
const TITLES = { list: "Searches", search: "Search", compare: "Compare", submit: "New search", studies: "Studies", study: "Study", notfound: "Not found" };

const viewEl = document.getElementById("view");
const banner = document.getElementById("banner");
const dialog = document.getElementById("key-dialog");
const keyInput = document.getElementById("key-input");
const keyButton = document.getElementById("key-button");
const liveEl = document.getElementById("live-indicator");

let cleanup = null;
let renderSeq = 0;

/** The header's live dot: "open" (green), "reconnecting" (amber), anything else hides it. */
function setLive(state) {
  liveEl.hidden = !state || state === "closed";
  liveEl.dataset.state = state || "";
  liveEl.querySelector(".live-text").textContent = state === "open" ? "live" : "reconnecting…";
}

// Whether the API answered 401 to the key now stored: the header must not keep saying "✓".
let keyRefused = false;

function updateKeyButton() {
  const state = !getKey() ? "unset" : keyRefused ? "refused" : "set";
  keyButton.dataset.keyState = state;
  keyButton.classList.toggle("key-refused", state === "refused");
  keyButton.textContent = { unset: "Set API key", refused: "API key refused ✗", set: "API key ✓" }[state];
  keyButton.setAttribute(
    "aria-label",
    { unset: "Set API key", refused: "The API refused the stored key (401): enter another", set: "Change API key (one is set)" }[state],
  );
}

function keyGate() {
  const input = h("input", { id: "gate-key", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "fnas_…", required: true });
  const form = h(
    "form",
    {
      class: "card key-gate",
      onsubmit: (ev) => {
        ev.preventDefault();
        if (input.value.trim()) setKey(input.value);
      },
    },
    h("h1", null, "Connect to flatnas"),
    h("p", { class: "muted" }, "Enter an API key once; it is stored in this browser and sent with every request. Create one with ", h("code", null, "flatnas server keys create NAME --scope submit"), "."),
    h("label", { for: "gate-key" }, "API key"),
    input,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Save key")),
  );
  return form;
}

async function render() {
  const seq = ++renderSeq;
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.error(err);
    }
    cleanup = null;
  }
  setLive(null);
  const { view, params } = match(location.pathname);
  document.title = `${TITLES[view] || "flatnas"} · flatnas`;
  for (const a of document.querySelectorAll(".mainnav a")) {
    if (a.dataset.nav === view || (view === "search" && a.dataset.nav === "list") || (view === "study" && a.dataset.nav === "studies")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clear(viewEl);
  if (!getKey()) {
    viewEl.append(keyGate());
    viewEl.querySelector("input")?.focus();
    return;
  }
  const mod = VIEWS[view];
  if (!mod) {
    viewEl.append(h("div", { class: "card" }, h("h1", null, "Page not found"), h("p", null, "No dashboard page at ", h("code", null, params.path), ". ", h("a", { href: "/dashboard", "data-link": "" }, "Back to searches"))));
    return;
  }
  await loadCatalog(); // views read spaces, methods and metrics from it (catalog.js)
  if (seq !== renderSeq) return;
  const result = await mod.render(viewEl, params, { setLive });
  if (seq !== renderSeq) {
    if (typeof result === "function") result();
    return;
  }
  cleanup = typeof result === "function" ? result : null;
}

function showBanner(message, withKeyButton) {
  clear(banner);
  banner.append(h("span", null, message));
  if (withKeyButton) banner.append(h("button", { type: "button", class: "btn btn-small", onclick: openKeyDialog }, "Enter key"));
  banner.append(h("button", { type: "button", class: "btn btn-ghost btn-small", "aria-label": "Dismiss", onclick: () => (banner.hidden = true) }, "✕"));
  banner.hidden = false;
}

function openKeyDialog() {
  keyInput.value = "";
  dialog.showModal();
  keyInput.focus();
}

document.getElementById("key-form").addEventListener("submit", (ev) => {
  if (ev.submitter && ev.submitter.value === "save" && keyInput.value.trim()) setKey(keyInput.value);
});
document.getElementById("key-forget").addEventListener("click", () => {
  setKey("");
  dialog.close();
});
document.getElementById("key-cancel").addEventListener("click", () => dialog.close());
keyButton.addEventListener("click", openKeyDialog);

window.addEventListener("flatnas:key", () => {
  keyRefused = false; // a new key has not been refused yet
  banner.hidden = true;
  updateKeyButton();
  render();
});
window.addEventListener("flatnas:auth", (ev) => {
  const status = ev.detail.status;
  if (status === 401) {
    keyRefused = true;
    updateKeyButton();
  }
  showBanner(
    status === 401 ? "The API did not accept the key (401). Enter a valid API key." : "This key's scope does not allow that action (403).",
    status === 401,
  );
});
window.addEventListener("flatnas:navigate", render);
window.addEventListener("popstate", render);

// Same-origin dashboard links navigate in place; modified clicks (new tab) keep browser behaviour.
document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[href]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === "/" || url.pathname.startsWith("/dashboard")) || a.target) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
  viewEl.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});

updateKeyButton();
render();
