// Submit form: the SearchSpec's common fields, an advanced section, and the API's field errors
// (problem details `errors: [{field, message}]`) shown next to the field they name. The browser's own
// validation is off (novalidate) so nas_core/spec.py stays the one source of truth for what is allowed.

import { post, ApiError } from "../api.js";
import { h, errorText, toast } from "../dom.js";
import { DATASETS, loadCatalogue } from "../model.js";
import { navigate } from "../router.js";

let fieldSeq = 0;

/** A labelled control with a slot for its error; `field` is the spec path the API names in errors. */
function field(fieldPath, label, control, { hint = "", className = "" } = {}) {
  const id = `f-${fieldPath.replace(/[^a-z0-9]+/gi, "-")}-${++fieldSeq}`;
  const errId = `${id}-error`;
  control.id = id;
  const describedBy = [errId];
  let hintEl = null;
  if (hint) {
    hintEl = h("div", { class: "hint", id: `${id}-hint` }, hint);
    describedBy.push(`${id}-hint`);
  }
  control.setAttribute("aria-describedby", describedBy.join(" "));
  const isCheck = control.type === "checkbox";
  return h(
    "div",
    { class: `field ${isCheck ? "field-check" : ""} ${className}`, "data-field": fieldPath },
    isCheck ? null : h("label", { for: id }, label),
    isCheck ? h("label", { for: id, class: "check" }, control, h("span", null, label)) : control,
    hintEl,
    h("div", { class: "field-error", id: errId, "aria-live": "polite" }),
  );
}

const num = (name, placeholder, extra = {}) => h("input", { type: "number", name, placeholder: String(placeholder), inputmode: "numeric", ...extra });

export async function render(root) {
  // Spaces and methods, with their rules, from the service's registries (GET /spaces, /methods).
  const { spaces, methods: methodInfo } = await loadCatalogue();
  const byName = new Map(methodInfo.map((m) => [m.name, m]));
  const spaceByName = new Map(spaces.map((sp) => [sp.name, sp]));
  const depthFieldOf = (name) => spaceByName.get(name)?.depth_field;

  const name = h("input", { type: "text", name: "name", placeholder: "search", autocomplete: "off" });
  const space = h("select", { name: "space" }, spaces.map((sp) => h("option", { value: sp.name }, sp.name)));
  const method = h("select", { name: "method" }, methodInfo.map((m) => h("option", { value: m.name }, m.name)));
  const methodSummary = h("div", { class: "hint method-summary" });
  const a2m = h("input", { type: "checkbox", name: "a2m", checked: true });
  const dataset = h("select", { name: "dataset" }, DATASETS.map((d) => h("option", { value: d }, d)));
  const epochs = num("epochs", 50, { value: "50" });

  const batch = num("batch_size", 64);
  const C = num("C", 16);
  const N = num("N", 5);
  const layers = num("layers", 8);
  const seed = num("seed", 0);
  const subset = num("subset", "all images");
  const imageSize = num("image_size", 16);
  const rhoDefaults = spaces.map((sp) => `${sp.a2m_default_rho} (${sp.name})`).join(" / ");
  const rho = h("input", { type: "text", name: "rho", inputmode: "decimal", placeholder: rhoDefaults });
  const tags = h("input", { type: "text", name: "tags", placeholder: "comma, separated" });
  const priority = num("priority", 5);
  const paramsBox = h("div", { class: "params-box" });

  const spacesWith = (f) => spaces.filter((sp) => sp.depth_field === f).map((sp) => sp.name).join(", ");
  const fN = field("supernet.N", "Cells per stage (N)", N, { hint: `${spacesWith("N")} only` });
  const fLayers = field("supernet.layers", "Layers", layers, { hint: `${spacesWith("layers")} only` });
  const fImage = field("dataset.image_size", "Image size", imageSize, { hint: "synthetic / digits only" });
  const fA2m = field("a2m", "Architecture-Aware Minimization (A2M)", a2m, { hint: "biases the α gradient towards flat minima" });
  const fRho = field("a2m.rho", "A2M radius ρ", rho);

  const summary = h("div", { class: "form-summary", role: "alert", hidden: true });
  const submitBtn = h("button", { type: "submit", class: "btn btn-primary" }, "Submit search");
  const advanced = h(
    "details",
    { class: "advanced" },
    h("summary", null, "Advanced"),
    h(
      "div",
      { class: "form-grid" },
      field("batch_size", "Batch size", batch),
      field("supernet.C", "Initial channels (C)", C),
      fN,
      fLayers,
      field("seed", "Seed", seed),
      field("dataset.subset", "Training subset (images)", subset),
      fImage,
      fRho,
      field("tags", "Tags", tags),
      field("priority", "Priority (0-9)", priority),
    ),
    h("h3", { class: "sub" }, "Method hyperparameters"),
    paramsBox,
  );

  const form = h(
    "form",
    { class: "card submit-form", novalidate: true, "aria-labelledby": "submit-title" },
    summary,
    h(
      "div",
      { class: "form-grid" },
      field("name", "Name", name),
      field("space", "Search space", space),
      h("div", { class: "field-group" }, field("method", "Method", method), methodSummary),
      field("dataset.name", "Dataset", dataset),
      field("epochs", "Epochs", epochs),
      fA2m,
    ),
    advanced,
    h("div", { class: "form-actions" }, submitBtn, h("a", { class: "btn btn-ghost", href: "/dashboard", "data-link": "" }, "Cancel")),
  );

  root.append(h("div", { class: "page narrow" }, h("div", { class: "page-head" }, h("h1", { id: "submit-title" }, "New search")), form));

  function syncVisibility() {
    const depthField = depthFieldOf(space.value);
    fN.hidden = depthField !== "N";
    fLayers.hidden = depthField !== "layers";
    fImage.hidden = !["synthetic", "digits"].includes(dataset.value);
    const info = byName.get(method.value) || {};
    const a2mAllowed = info.supports_a2m !== false;
    a2m.disabled = !a2mAllowed;
    if (!a2mAllowed) a2m.checked = false;
    fRho.hidden = !a2m.checked;
    methodSummary.textContent = [info.kind, info.summary].filter(Boolean).join(" · ");
  }

  function renderParams() {
    paramsBox.replaceChildren();
    const schema = byName.get(method.value)?.params || byName.get(method.value)?.params_schema;
    const props = schema?.properties || {};
    const keys = Object.keys(props);
    if (!keys.length) {
      paramsBox.append(h("p", { class: "muted small" }, "This method has no hyperparameters."));
      return;
    }
    const grid = h("div", { class: "form-grid" });
    for (const k of keys) {
      const p = props[k];
      const enumVals = p.enum || (p.anyOf || []).flatMap((x) => x.enum || []);
      let control;
      if (p.type === "boolean") control = h("select", { name: k }, h("option", { value: "" }, `default (${p.default})`), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
      else if (enumVals.length) control = h("select", { name: k }, h("option", { value: "" }, `default (${p.default})`), enumVals.map((v) => h("option", { value: v }, v)));
      else control = h("input", { type: "text", name: k, inputmode: "decimal", placeholder: p.default === undefined ? "" : String(p.default) });
      control.dataset.param = k;
      control.dataset.ptype = p.type || "string";
      grid.append(field(`method_params.${k}`, k, control, { hint: p.description || "" }));
    }
    paramsBox.append(grid);
  }

  space.addEventListener("change", syncVisibility);
  dataset.addEventListener("change", syncVisibility);
  a2m.addEventListener("change", syncVisibility);
  method.addEventListener("change", () => {
    syncVisibility();
    renderParams();
  });
  syncVisibility();
  renderParams();

  function clearErrors() {
    summary.hidden = true;
    summary.replaceChildren();
    for (const el of form.querySelectorAll(".field")) {
      el.classList.remove("has-error");
      el.querySelector(".field-error").textContent = "";
      el.querySelector("input, select")?.removeAttribute("aria-invalid");
    }
  }

  function showErrors(errors, fallback) {
    const unplaced = [];
    let first = null;
    for (const { field: raw, message } of errors) {
      const path = raw.replace(/^body\./, "");
      const target = findField(path);
      if (!target) {
        unplaced.push(`${path || "request"}: ${message}`);
        continue;
      }
      if (target.closest("details")) target.closest("details").open = true;
      target.hidden = false;
      target.classList.add("has-error");
      const slot = target.querySelector(".field-error");
      slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
      const control = target.querySelector("input, select");
      control?.setAttribute("aria-invalid", "true");
      first ||= control;
    }
    if (unplaced.length || !errors.length) {
      summary.replaceChildren(h("strong", null, "The search was not submitted. "), h("span", null, unplaced.length ? unplaced.join(" · ") : fallback));
      summary.hidden = false;
    }
    (first || summary).focus?.();
  }

  function findField(path) {
    const all = [...form.querySelectorAll(".field[data-field]")];
    const exact = all.find((f) => f.dataset.field === path);
    if (exact) return exact;
    // "dataset" -> dataset.name; "supernet.N.x" -> supernet.N: the closest field named by the path.
    const prefix = all.filter((f) => path.startsWith(`${f.dataset.field}.`)).sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    if (prefix) return prefix;
    return all.find((f) => f.dataset.field.startsWith(`${path}.`)) || null;
  }

  /** The spec body: advanced fields only when filled, so the API's defaults apply otherwise. */
  function buildBody() {
    const local = [];
    const readNum = (input, path) => {
      if (input.validity?.badInput) {
        local.push({ field: path, message: "must be a number" });
        return undefined;
      }
      return input.value.trim() === "" ? undefined : Number(input.value);
    };
    const body = {
      space: space.value,
      method: method.value,
      a2m: a2m.checked ? { enabled: true } : null,
      dataset: { name: dataset.value },
      epochs: readNum(epochs, "epochs"),
    };
    if (name.value.trim()) body.name = name.value.trim();
    const set = (obj, key, v) => {
      if (v !== undefined) obj[key] = v;
    };
    set(body, "batch_size", readNum(batch, "batch_size"));
    set(body, "seed", readNum(seed, "seed"));
    set(body, "priority", readNum(priority, "priority"));
    set(body.dataset, "subset", readNum(subset, "dataset.subset"));
    if (!fImage.hidden) set(body.dataset, "image_size", readNum(imageSize, "dataset.image_size"));
    const supernet = {};
    set(supernet, "C", readNum(C, "supernet.C"));
    if (depthFieldOf(space.value) === "N") set(supernet, "N", readNum(N, "supernet.N"));
    if (depthFieldOf(space.value) === "layers") set(supernet, "layers", readNum(layers, "supernet.layers"));
    if (Object.keys(supernet).length) body.supernet = supernet;
    if (a2m.checked && rho.value.trim()) body.a2m.rho = Number(rho.value.trim());
    const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tagList.length) body.tags = tagList;
    const params = {};
    for (const el of paramsBox.querySelectorAll("[data-param]")) {
      const v = el.value.trim();
      if (!v) continue;
      const t = el.dataset.ptype;
      params[el.dataset.param] = t === "boolean" ? v === "true" : t === "number" || t === "integer" ? Number(v) : v;
    }
    if (Object.keys(params).length) body.method_params = params;
    if (body.epochs === undefined) delete body.epochs;
    return { body, local };
  }

  let idemKey = null;
  let lastBody = null;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const { body, local } = buildBody();
    if (local.length) return showErrors(local, "");
    // One Idempotency-Key per distinct body: a retried click never creates a second search.
    const text = JSON.stringify(body);
    if (text !== lastBody) {
      idemKey = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
      lastBody = text;
    }
    submitBtn.disabled = true;
    submitBtn.textContent = "Submitting…";
    try {
      const created = await post("/searches", body, { headers: { "Idempotency-Key": idemKey } });
      toast(`Submitted “${created.name ?? body.name ?? "search"}”.`, "ok");
      navigate(`/dashboard?new=${encodeURIComponent(created.id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) showErrors(err.fieldErrors, errorText(err));
      else showErrors([], errorText(err));
    } finally {
      submitBtn.disabled = false;
      submitBtn.textContent = "Submit search";
    }
  });

  return () => {};
}
