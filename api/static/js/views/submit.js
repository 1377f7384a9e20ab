// Submit form: the SearchSpec's common fields, an advanced section, and the API's field errors
// (problem details `errors: [{field, message}]`) shown next to the field they name. The browser's own
// validation is off (novalidate) so nas_core/spec.py stays the one source of truth for what is allowed.

import { get, listOf, post, ApiError } from "../api.js";
import { h, errorText, toast } from "../dom.js";
import { loadCatalogue } from "../model.js";
import { flatnessSwitches, specDefault } from "../catalog.js";
import { navigate } from "../router.js";

let fieldSeq = 0;
const DEFAULT_EPOCHS = 10;

/** [{name, available, reason}] from GET /datasets; every catalogued set, as runnable, if it cannot answer. */
async function loadDatasets(catalogued) {
  try {
    const items = listOf(await get("/datasets"), "items").filter((d) => d && typeof d.name === "string");
    if (items.length) return items;
  } catch {
    /* an older service without /datasets: offer every name */
  }
  return catalogued.map((d) => ({ name: d.name, available: true, reason: "" }));
}

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

// Placeholders and "default (…)" options show the spec's own defaults (GET /catalog spec_defaults);
// without the catalog they are left blank rather than guessed.
const num = (name, placeholder, extra = {}) => h("input", { type: "number", name, placeholder: String(placeholder ?? ""), inputmode: "numeric", ...extra });
// Decimal fields are text (so 3e-4 can be typed) and checked here as they are typed.
const dec = (name, placeholder) => h("input", { type: "text", name, placeholder: String(placeholder ?? ""), inputmode: "decimal", autocomplete: "off", "data-number": "" });
const defaultOption = (def) => h("option", { value: "" }, def === undefined ? "default" : `default (${def})`);
// Booleans that should only be sent when changed: the spec's default stays the default.
const tri = (name, def, title = "") => h("select", { name, "data-bool": "", title: title || null }, defaultOption(def), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));

/** A number typed into `input`: undefined when empty, NaN when it is not a number. */
function numberIn(input) {
  if (input.validity?.badInput) return NaN;
  const v = input.value.trim();
  if (v === "") return undefined;
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? Number(v) : NaN;
}

// Flatness, optimiser and runtime sections: [spec path, label, control made from the spec's default
// at that path, hint]. The flatness switches are the catalog's: one per spec.flatness flag.
function extraSections() {
  const switches = flatnessSwitches().map((sw) => [`flatness.${sw.name}`, sw.label, (def) => tri(sw.name, def, sw.description), sw.hint]);
  return [
    ["Flatness metrics", [
      ["flatness.interval", "Metric interval", (def) => num("interval", def), "epochs between metric epochs (and the last one)"],
      ...switches,
      ["flatness.power_iterations", "Power iterations", (def) => num("power_iterations", def), ""],
      ["flatness.val_batches", "Validation batches", (def) => num("val_batches", def), "used by every metric"],
      ["flatness.neighbour_samples", "Neighbours per radius", (def) => num("neighbour_samples", def), ""],
    ]],
    ["Optimiser", [
      ["optim.w_lr", "Weight learning rate", (def) => dec("w_lr", def), "SGD, cosine schedule"],
      ["optim.w_lr_min", "Weight lr floor", (def) => dec("w_lr_min", def), ""],
      ["optim.w_momentum", "Momentum", (def) => dec("w_momentum", def), ""],
      ["optim.w_weight_decay", "Weight decay", (def) => dec("w_weight_decay", def), ""],
      ["optim.grad_clip", "Gradient clip", (def) => dec("grad_clip", def), ""],
      ["optim.arch_lr", "α learning rate", (def) => dec("arch_lr", def), "Adam"],
      ["optim.arch_weight_decay", "α weight decay", (def) => dec("arch_weight_decay", def), ""],
    ]],
    ["Runtime", [
      ["runtime.precision", "Precision", (def) => h("select", { name: "precision" }, defaultOption(def), h("option", { value: "fp32" }, "fp32"), h("option", { value: "bf16" }, "bf16")), ""],
      ["runtime.checkpoint_every", "Checkpoint interval", (def) => num("checkpoint_every", def), ""],
      ["runtime.keep_checkpoints", "Keep newest N checkpoints", (def) => num("keep_checkpoints", def ?? "all"), "plus the best epoch's"],
      ["runtime.channels_last", "Channels-last (CUDA)", (def) => tri("channels_last", def), ""],
      ["runtime.fused_cells", "Fused cells", (def) => tri("fused_cells", def), ""],
    ]],
  ];
}

export async function render(root) {
  // Spaces and methods, with their rules, from the service's registries (GET /spaces, /methods).
  const { spaces, methods: methodInfo, datasets: catalogued } = await loadCatalogue();
  const byName = new Map(methodInfo.map((m) => [m.name, m]));
  const spaceByName = new Map(spaces.map((sp) => [sp.name, sp]));
  const depthFieldOf = (name) => spaceByName.get(name)?.depth_field;

  const name = h("input", { type: "text", name: "name", placeholder: "search", autocomplete: "off" });
  const space = h("select", { name: "space" }, spaces.map((sp) => h("option", { value: sp.name }, sp.name)));
  const method = h("select", { name: "method" }, methodInfo.map((m) => h("option", { value: m.name }, m.name)));
  const methodSummary = h("div", { class: "hint method-summary" });
  const a2m = h("input", { type: "checkbox", name: "a2m", checked: true });
  // Data sets as the service reports them (GET /datasets): the default is one it can run, and a
  // file-backed set whose files are not under its data root is shown but cannot be picked.
  const available = await loadDatasets(catalogued);
  const runnable = available.filter((d) => d.available).map((d) => d.name);
  const preferred = runnable.includes("cifar10") ? "cifar10" : runnable[0] ?? "digits";
  const dataset = h(
    "select",
    { name: "dataset" },
    available.map((d) => h("option", { value: d.name, selected: d.name === preferred, disabled: !d.available, title: d.reason }, d.available ? d.name : `${d.name} (${d.reason})`)),
  );
  // A first search should finish in minutes on the machine that `make run` starts.
  const epochs = num("epochs", DEFAULT_EPOCHS, { value: String(DEFAULT_EPOCHS) });

  const batch = num("batch_size", specDefault("batch_size"));
  const C = num("C", specDefault("supernet.C"));
  // Their placeholder is the chosen space's own default depth (syncVisibility).
  const N = num("N", "");
  const layers = num("layers", "");
  const seed = num("seed", specDefault("seed"));
  const subset = num("subset", "all images");
  const imageSize = num("image_size", 16);
  const rhoDefaults = spaces.map((sp) => `${sp.a2m_default_rho} (${sp.name})`).join(" / ");
  const rho = h("input", { type: "text", name: "rho", inputmode: "decimal", placeholder: rhoDefaults, "data-number": "" });
  const tags = h("input", { type: "text", name: "tags", placeholder: "comma, separated" });
  const priority = num("priority", specDefault("priority"));
  const paramsBox = h("div", { class: "params-box" });

  const spacesWith = (f) => spaces.filter((sp) => sp.depth_field === f).map((sp) => sp.name).join(", ");
  const fN = field("supernet.N", "Cells per stage (N)", N, { hint: `${spacesWith("N")} only` });
  const fLayers = field("supernet.layers", "Layers", layers, { hint: `${spacesWith("layers")} only` });
  // dataset.image_size applies to generated sets only (the spec refuses it for file-backed ones).
  const generated = new Set(catalogued.filter((d) => !d.file_backed).map((d) => d.name));
  const fImage = field("dataset.image_size", "Image size", imageSize, { hint: `${[...generated].join(" / ")} only` });
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
    extraSections().map(([title, rows]) =>
      h(
        "div",
        { class: "extra-section", "data-section": title.toLowerCase().split(" ")[0] },
        h("h3", { class: "sub" }, title),
        h("div", { class: "form-grid" }, rows.map(([path, label, make, hint]) => {
          const control = make(specDefault(path));
          control.dataset.path = path;
          return field(path, label, control, { hint });
        })),
      ),
    ),
  );

  // "Paste a spec" mode: the text goes to the API as it is (YAML, of which JSON is a part).
  const pasteArea = h("textarea", { name: "spec-text", rows: "16", spellcheck: "false", class: "spec-paste", placeholder: "name: my search\nspace: nb201\nmethod: darts\ndataset: {name: digits}\nepochs: 3\n# … any spec field, YAML or JSON" });
  const pasteField = field("spec-text", "Spec (YAML or JSON)", pasteArea, { hint: "every field of `flatnas search --help`; errors name their field or line" });
  pasteField.hidden = true;
  const modeForm = h("input", { type: "radio", name: "mode", value: "form", checked: true, id: "mode-form" });
  const modePaste = h("input", { type: "radio", name: "mode", value: "paste", id: "mode-paste" });
  const modeSwitch = h(
    "div",
    { class: "mode-switch", role: "radiogroup", "aria-label": "How to give the spec" },
    h("label", { for: "mode-form" }, modeForm, " Fill in the form"),
    h("label", { for: "mode-paste" }, modePaste, " Paste a YAML/JSON spec"),
  );

  const form = h(
    "form",
    { class: "card submit-form", novalidate: true, "aria-labelledby": "submit-title" },
    summary,
    modeSwitch,
    pasteField,
    h(
      "div",
      { class: "form-grid", "data-mode": "form" },
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
    for (const input of [N, layers]) input.placeholder = String(spaceByName.get(space.value)?.default_depth ?? "");
    fImage.hidden = !generated.has(dataset.value);
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

  const formParts = () => [form.querySelector('[data-mode="form"]'), advanced];
  for (const radio of [modeForm, modePaste]) {
    radio.addEventListener("change", () => {
      const pasting = modePaste.checked;
      pasteField.hidden = !pasting;
      formParts().forEach((el) => (el.hidden = pasting));
      clearErrors();
    });
  }
  // Numbers are checked as they are typed, so a typo is flagged at its field before submitting.
  form.addEventListener("input", (ev) => {
    const el = ev.target;
    if (!(el instanceof HTMLInputElement) || !(el.type === "number" || el.dataset.number !== undefined || el.dataset.param !== undefined)) return;
    if (el.dataset.param !== undefined && !["number", "integer"].includes(el.dataset.ptype)) return;
    const box = el.closest(".field");
    const bad = Number.isNaN(numberIn(el));
    box.classList.toggle("has-error", bad);
    box.querySelector(".field-error").textContent = bad ? "not a number (e.g. 0.025 or 3e-4)" : "";
    if (bad) el.setAttribute("aria-invalid", "true");
    else el.removeAttribute("aria-invalid");
  });

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
      el.querySelector("input, select, textarea")?.removeAttribute("aria-invalid");
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
      const control = target.querySelector("input, select, textarea");
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
      const v = numberIn(input);
      if (Number.isNaN(v)) {
        local.push({ field: path, message: "not a number (e.g. 0.025 or 3e-4)" });
        return undefined;
      }
      return v;
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
    if (a2m.checked) set(body.a2m, "rho", readNum(rho, "a2m.rho"));
    for (const el of advanced.querySelectorAll(".extra-section [data-path]")) {
      const [section, key] = el.dataset.path.split(".");
      let v;
      if (el.dataset.bool !== undefined) v = el.value === "" ? undefined : el.value === "true";
      else if (el.tagName === "SELECT") v = el.value || undefined;
      else v = readNum(el, el.dataset.path);
      if (v === undefined) continue;
      body[section] ??= {};
      body[section][key] = v;
    }
    const tagList = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tagList.length) body.tags = tagList;
    const params = {};
    for (const el of paramsBox.querySelectorAll("[data-param]")) {
      const v = el.value.trim();
      if (!v) continue;
      const t = el.dataset.ptype;
      params[el.dataset.param] = t === "boolean" ? v === "true" : t === "number" || t === "integer" ? readNum(el, `method_params.${el.dataset.param}`) : v;
    }
    if (Object.keys(params).length) body.method_params = params;
    if (body.epochs === undefined) delete body.epochs;
    return { body, local };
  }

  let idemKey = null;
  let lastBody = null;

  async function submitPasted() {
    const text = pasteArea.value;
    if (!text.trim()) return showErrors([{ field: "spec-text", message: "paste a spec first" }], "");
    if (text !== lastBody) {
      idemKey = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
      lastBody = text;
    }
    submitBtn.disabled = true;
    try {
      const created = await post("/searches", text, { contentType: "application/yaml", headers: { "Idempotency-Key": idemKey } });
      toast(`Submitted “${created.name ?? "search"}”.`, "ok");
      navigate(`/dashboard?new=${encodeURIComponent(created.id)}`);
    } catch (err) {
      // Field errors name spec paths that have no form control here: list them all at the text.
      const named = err instanceof ApiError ? err.fieldErrors : [];
      const listed = named.map((e) => ({ field: "spec-text", message: `${e.field.replace(/^body\.?/, "") || "spec"}: ${e.message}` }));
      showErrors(listed.length ? listed : [{ field: "spec-text", message: errorText(err) }], errorText(err));
    } finally {
      submitBtn.disabled = false;
    }
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    if (modePaste.checked) return submitPasted();
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
