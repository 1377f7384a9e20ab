// Client-side routes under /dashboard; every path is served the same index.html by api/dashboard.py.

export const BASE = "/dashboard";

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  window.dispatchEvent(new CustomEvent("flatnas:navigate"));
}

export const searchUrl = (id) => `${BASE}/searches/${encodeURIComponent(id)}`;
export const studyUrl = (id) => `${BASE}/studies/${encodeURIComponent(id)}`;
export const compareUrl = (ids) => `${BASE}/compare?ids=${ids.map(encodeURIComponent).join(",")}`;

/** {view, params} for the current location. */
export function match(pathname) {
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === BASE || path === `${BASE}/searches`) return { view: "list", params: {} };
  const m = /^\/dashboard\/searches\/([^/]+)$/.exec(path);
  if (m) return { view: "search", params: { id: decodeURIComponent(m[1]) } };
  if (path === `${BASE}/compare`) return { view: "compare", params: {} };
  if (path === `${BASE}/studies`) return { view: "studies", params: {} };
  const st = /^\/dashboard\/studies\/([^/]+)$/.exec(path);
  if (st) return { view: "study", params: { id: decodeURIComponent(st[1]) } };
  if (path === `${BASE}/submit`) return { view: "submit", params: {} };
  return { view: "notfound", params: { path } };
}
