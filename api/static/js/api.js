// The REST client: API key storage, problem details, SSE over fetch and authenticated downloads.
//
// EventSource cannot send an Authorization header, and the API wants the key on every request, so
// server-sent events are read from a fetch() body stream instead.

const KEY_STORAGE = "flatnas.apiKey";

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key.trim());
  else localStorage.removeItem(KEY_STORAGE);
  window.dispatchEvent(new CustomEvent("flatnas:key"));
}

/** An HTTP error carrying the RFC 9457 problem document (title, detail, errors[{field, message}]). */
export class ApiError extends Error {
  constructor(status, problem) {
    const text = problem.detail || problem.title || `HTTP ${status}`;
    super(text);
    this.status = status;
    this.problem = problem;
    this.fieldErrors = normalizeFieldErrors(problem);
  }
}

function normalizeFieldErrors(problem) {
  const list = problem.errors || problem.invalid_params || [];
  if (!Array.isArray(list)) return [];
  return list.map((e) => ({
    field: String(e.field ?? e.name ?? (Array.isArray(e.loc) ? e.loc.join(".") : "") ?? ""),
    message: String(e.message ?? e.reason ?? e.msg ?? "invalid value"),
  }));
}

function authHeaders(extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function problemOf(resp) {
  const text = await resp.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") return body;
  } catch {
    /* not JSON: fall through */
  }
  return { title: resp.statusText || `HTTP ${resp.status}`, detail: text.slice(0, 300) };
}

function notifyAuth(status) {
  if (status === 401 || status === 403) {
    window.dispatchEvent(new CustomEvent("flatnas:auth", { detail: { status } }));
  }
}

/** JSON request; throws ApiError on any non-2xx answer. */
export async function request(method, path, body = undefined, { signal, headers = {}, contentType = null } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (body !== undefined) {
    // A text body with its own type (a pasted YAML spec) goes as it is; anything else as JSON.
    init.headers["Content-Type"] = contentType ?? "application/json";
    init.body = contentType ? body : JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    notifyAuth(resp.status);
    throw new ApiError(resp.status, await problemOf(resp));
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("Content-Type") || "";
  return type.includes("json") ? resp.json() : resp.text();
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body, opts) => request("POST", path, body, opts);

/** GET that answers null for 404 (a resource not produced yet) instead of throwing. */
export async function getOptional(path, opts) {
  try {
    return await get(path, opts);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
    throw err;
  }
}

// --- response shapes: accept a bare list or a {items|epochs|records|data: [...]} page --------------

export function listOf(body, ...keys) {
  if (Array.isArray(body)) return body;
  if (!body || typeof body !== "object") return [];
  for (const k of [...keys, "items", "data", "results", "records", "epochs"]) {
    if (Array.isArray(body[k])) return body[k];
  }
  return [];
}

export function nextCursorOf(body) {
  return (body && (body.next_cursor ?? body.cursor ?? body.next)) || null;
}

// --- downloads --------------------------------------------------------------------------------------

/** Fetch with the key, then save the body under the server's filename (or `fallbackName`). */
export async function download(path, fallbackName) {
  const resp = await fetch(path, { headers: authHeaders({ Accept: "*/*" }) });
  if (!resp.ok) {
    notifyAuth(resp.status);
    throw new ApiError(resp.status, await problemOf(resp));
  }
  const blob = await resp.blob();
  const disposition = resp.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

// --- server-sent events -----------------------------------------------------------------------------

/**
 * Follow `path` as an event stream until `stop()` is called. `onEvent(type, data)` gets parsed JSON
 * data (or the raw string). Reconnects with backoff after the stream ends or fails, sending
 * Last-Event-ID, unless `shouldReconnect()` says the search is over.
 */
export function openEventStream(path, onEvent, { shouldReconnect = () => true, onState = () => {}, lastEventId = null } = {}) {
  const controller = new AbortController();
  let lastId = lastEventId;
  let stopped = false;
  let delay = 1000;

  async function connect() {
    while (!stopped) {
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        if (lastId) headers["Last-Event-ID"] = lastId;
        const resp = await fetch(path, { headers, signal: controller.signal, cache: "no-store" });
        if (!resp.ok) {
          notifyAuth(resp.status);
          if (resp.status === 401 || resp.status === 403 || resp.status === 404) {
            onState("closed");
            return;
          }
          throw new Error(`HTTP ${resp.status}`);
        }
        onState("open");
        delay = 1000;
        await readStream(resp.body, (evt) => {
          if (evt.id) lastId = evt.id;
          onEvent(evt.type, evt.data);
        });
      } catch (err) {
        if (stopped || err.name === "AbortError") return;
      }
      if (stopped || !shouldReconnect()) break;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
    onState("closed");
  }

  connect();
  return {
    stop() {
      stopped = true;
      controller.abort();
    },
  };
}

async function readStream(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl;
    while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (data.length) dispatch({ type, id, data: parseData(data.join("\n")) });
        type = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // comment / keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = val || "message";
      else if (field === "data") data.push(val);
      else if (field === "id") id = val;
    }
  }
}

function parseData(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
