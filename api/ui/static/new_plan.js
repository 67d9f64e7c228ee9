/* tunecast web UI: the new-plan form. The method and training fields are built from the API's own schemas
   (GET /v1/methods' parameter_schema, the candidates' training schema); the form sends one candidate per
   model × method × GPU kind, each with its method's settings. Errors show next to their field, once, in
   plain words, and the first one takes the focus. Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, $$, isNum, readJson, api, el, taskCreateBody, uploadDataset } = window.tunecast;

  // ---------- what the form shows (each fact once) ----------
  const LABELS = {
    seq_len: "Sequence length (tokens)", micro_batch_size: "Micro batch size (sequences per GPU)",
    gradient_accumulation_steps: "Gradient accumulation steps", data_fraction: "Fraction of the training set",
    epochs: "Epochs", precision: "Precision", gradient_checkpointing: "Gradient checkpointing",
    target_modules: "Target modules", feedforward_modules: "Feed-forward modules", num_virtual_tokens: "Virtual tokens",
    demonstration_tokens: "Tokens per demonstration", num_labels: "Classes (head width)", layers: "Layers trained (from the top)",
  };
  const TRAINING_MAIN = ["precision", "gradient_checkpointing", "micro_batch_size", "seq_len", "epochs"]; // the rest fold away
  const TRAINING_SKIP = new Set(["train_examples", "dataset_tokens"]); // the task's data size: set once, under Task
  const SIZE_BINS = [["lt1", "under 1 B", 0, 1e9], ["1to4", "1–4 B", 1e9, 4e9], ["4to10", "4–10 B", 4e9, 10e9],
    ["10to40", "10–40 B", 10e9, 40e9], ["ge40", "40 B and more", 40e9, Infinity]];
  const DEFAULT_MODELS = ["llama-3.2-1b", "llama-3.1-8b", "qwen2.5-7b"];
  const DEFAULT_METHODS = ["lora", "qlora", "full", "icl"];
  /* The template's own inputs: the request key each fills and the short name its errors use. */
  const STATIC_INPUTS = [["#task-name", "name", "Name"], ["#task-kind", "kind", "Kind"], ["#task-choices", "n_choices", "Choices"],
    ["#task-examples", "train_examples", "Training examples"], ["#task-test-examples", "test_examples", "Test examples"],
    ["#gpu-count", "gpu_count", "GPUs per run"], ["#max-usd", "max_usd", "Budget"]];
  const TASK_POINTERS = { name: "#task-name", kind: "#task-kind", n_choices: "#task-choices",
    train_examples: "#task-examples", test_examples: "#task-test-examples" };

  const sentence = (s) => { const t = String(s || "").replace(/_/g, " ").toLowerCase(); return t.charAt(0).toUpperCase() + t.slice(1); };
  const labelOf = (name, prop) => LABELS[name] || sentence((prop && prop.title) || name);
  const billions = (n) => (isNum(n) ? Number((n / 1e9).toPrecision(3)) + " B" : "");

  // ---------- schema → field ----------
  /* What kind of input a JSON-schema property needs. */
  function fieldShape(prop) {
    const variants = prop.anyOf || [prop];
    const types = variants.map((v) => (v.const !== undefined ? "const" : v.type));
    const optional = types.includes("null");
    if (prop.enum) return { widget: "select", options: prop.enum };
    if (types.includes("array")) return { widget: "list", optional, allLinear: variants.some((v) => v.const === "all-linear") };
    const main = variants.find((v) => v.type && v.type !== "null") || prop;
    if (main.type === "boolean") return { widget: "checkbox" };
    if (main.type === "integer" || main.type === "number") return { widget: "number", integer: main.type === "integer", bounds: main, optional };
    return { widget: "text", optional, maxLength: main.maxLength };
  }

  function numberAttrs(input, shape) {
    const b = shape.bounds;
    input.inputMode = shape.integer ? "numeric" : "decimal";
    input.dataset.number = shape.integer ? "integer" : "number";
    for (const [key, attr] of [["minimum", "min"], ["maximum", "max"], ["exclusiveMinimum", "exclusiveMin"], ["exclusiveMaximum", "exclusiveMax"]]) {
      if (isNum(b[key])) input.dataset[attr] = String(b[key]);
    }
    if (shape.optional) input.dataset.optional = "true";
  }

  /* One labelled field for a schema property; its input carries what readInput needs to check it. */
  function buildField(parent, id, name, prop, value) {
    const shape = fieldShape(prop);
    const field = el("div", { class: shape.widget === "checkbox" ? "field check-field" : "field" }, parent);
    const label = labelOf(name, prop);
    let input;
    if (shape.widget === "select") {
      input = el("select", { id });
      for (const option of shape.options) el("option", { value: option }, input, String(option));
      input.value = value == null ? String(prop.default) : String(value);
    } else if (shape.widget === "checkbox") {
      input = el("input", { id, type: "checkbox" });
      input.checked = value == null ? !!prop.default : !!value;
    } else {
      input = el("input", { id, type: "text", autocomplete: "off" });
      if (shape.widget === "number") numberAttrs(input, shape);
      if (shape.widget === "list") {
        input.dataset.list = shape.allLinear ? "all-linear" : "plain";
        input.placeholder = shape.allLinear ? "e.g. q_proj, v_proj, or all-linear" : "comma-separated, or empty for the default";
      }
      if (shape.optional) input.dataset.optional = "true";
      const v = value === undefined ? prop.default : value;
      input.value = v == null ? "" : Array.isArray(v) ? v.join(", ") : String(v);
    }
    input.dataset.name = label;
    input.dataset.key = name;
    const labelNode = el("label", { for: id }, null, label);
    if (shape.widget === "checkbox") { field.appendChild(input); field.appendChild(labelNode); } else { field.appendChild(labelNode); field.appendChild(input); }
    if (prop.description) {
      const hint = el("span", { class: "hint", id: id + "-hint" }, field, prop.description);
      input.setAttribute("aria-describedby", hint.id);
    }
    return input;
  }

  /* The training settings (one set per scope: "all", or a method with its own), main ones first. */
  function buildTraining(parent, scope, schema, values) {
    const props = schema.properties || {};
    const names = Object.keys(props).filter((n) => !TRAINING_SKIP.has(n));
    const main = el("div", { class: "grid-2" }, parent);
    for (const name of names.filter((n) => TRAINING_MAIN.includes(n))) buildField(main, "t-" + scope + "-" + name, name, props[name], values ? values[name] : undefined);
    const more = el("details", { class: "more-training" }, parent);
    el("summary", {}, more, "More training settings");
    const rest = el("div", { class: "grid-2" }, more);
    for (const name of names.filter((n) => !TRAINING_MAIN.includes(n))) buildField(rest, "t-" + scope + "-" + name, name, props[name], values ? values[name] : undefined);
  }

  // ---------- reading and checking inputs ----------
  const THOUSANDS_RE = /^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$/;
  const NUMBER_RE = { integer: /^[0-9]+$/, number: /^([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?$/i };

  /* { value } or { error } for one input; value undefined means "not given" (the server's default). */
  function readInput(input) {
    const name = input.dataset.name || "This field";
    if (input.type === "checkbox") return { value: input.checked };
    if (input.disabled) return { value: undefined };
    let raw = input.value.trim();
    if (input.dataset.number) {
      if (input.dataset.unit) raw = raw.replace(input.dataset.unit, "").trim();
      if (THOUSANDS_RE.test(raw)) raw = raw.replace(/,/g, ""); // "2,000"; a decimal comma ("0,5") stays an error
      if (raw === "") return input.dataset.optional === "true" || !input.dataset.required ? { value: undefined } : { error: name + " is needed." };
      const integer = input.dataset.number === "integer";
      if (!NUMBER_RE[input.dataset.number].test(raw)) {
        return { error: name + (integer ? " must be a whole number, like 8 or 512." : " must be a number, like 20 or 0.5.") };
      }
      return checkRange(input, name, Number(raw));
    }
    if (input.dataset.list) {
      if (raw === "") return { value: undefined };
      if (raw === "all-linear" && input.dataset.list === "all-linear") return { value: raw };
      return { value: raw.split(/[\s,]+/).filter(Boolean) };
    }
    if (raw === "" && input.dataset.optional === "true") return { value: undefined };
    return { value: input.tagName === "SELECT" ? input.value : raw };
  }

  function checkRange(input, name, value) {
    const d = input.dataset;
    const n = (k) => Number(d[k]);
    if (d.exclusiveMin !== undefined && !(value > n("exclusiveMin"))) return { error: name + " must be more than " + d.exclusiveMin + "." };
    if (d.min !== undefined && value < n("min")) return { error: name + " must be at least " + d.min + "." };
    if (d.exclusiveMax !== undefined && !(value < n("exclusiveMax"))) return { error: name + " must be less than " + d.exclusiveMax + "." };
    if (d.max !== undefined && value > n("max")) return { error: name + " must be at most " + Number(d.max).toLocaleString("en-US") + "." };
    return { value };
  }

  /* Read every input of a scope into an object (keys from data-key); errors go to `problems`. */
  function readScope(inputs, problems) {
    const out = {};
    for (const input of inputs) {
      const read = readInput(input);
      if (read.error) problems.push({ target: input, text: read.error });
      else if (read.value !== undefined) out[input.dataset.key] = read.value;
    }
    return out;
  }

  // ---------- errors next to their fields ----------
  function clearError(target) {
    const id = target.dataset && target.dataset.errorId;
    if (!id) return;
    const node = document.getElementById(id);
    if (node) node.remove();
    target.removeAttribute("aria-invalid");
    const described = (target.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== id);
    if (described.length) target.setAttribute("aria-describedby", described.join(" ")); else target.removeAttribute("aria-describedby");
    delete target.dataset.errorId;
  }

  /* Show each problem once, beside its field (or its group); focus the first. Returns how many were placed. */
  function showProblems(problems, banner) {
    banner.hidden = true;
    banner.textContent = "";
    const placed = new Set();
    const loose = [];
    problems.forEach((p, i) => {
      if (!p.target) { if (!loose.includes(p.text)) loose.push(p.text); return; }
      if (placed.has(p.target)) return;
      placed.add(p.target);
      const id = "error-" + i;
      const box = p.target.tagName === "FIELDSET" ? p.target : p.target.closest(".field") || p.target.parentNode;
      const node = el("p", { class: "field-error", id, role: "alert" }, null, p.text);
      if (p.target.tagName === "FIELDSET") box.insertBefore(node, box.querySelector("legend").nextSibling); else box.appendChild(node);
      p.target.dataset.errorId = id;
      p.target.setAttribute("aria-invalid", "true");
      p.target.setAttribute("aria-describedby", ((p.target.getAttribute("aria-describedby") || "") + " " + id).trim());
    });
    if (loose.length) {
      el("strong", {}, banner, "The server did not accept the plan:");
      const ul = el("ul", {}, banner);
      loose.forEach((text) => el("li", {}, ul, text));
      banner.hidden = false;
    }
    const first = problems.find((p) => p.target);
    if (first) (first.target.tagName === "FIELDSET" ? $("input, select", first.target) : first.target).focus();
    else if (loose.length) banner.focus();
  }

  /* A server problem's pointer → the input or group it is about (a candidate's index maps back through
     `sent.scopes`: the method it was built for and whether that method had its own training settings). */
  function targetFor(pointer, sent, form) {
    let m = pointer.match(/^#\/task\/(\w+)/);
    if (m) return $(TASK_POINTERS[m[1]] || "#task-name", form);
    if (/^#\/budget/.test(pointer)) return $("#max-usd", form);
    if (/^#\/(file|lines)/.test(pointer)) return $("#task-dataset", form);
    m = pointer.match(/^#\/candidates(?:\/(\d+)(?:\/(\w+)(?:\/(\w+))?)?)?/);
    if (!m) return null;
    const scope = sent.scopes[Number(m[1])];
    if (!scope || !m[2]) return $("#models-group", form);
    const method = scope.method;
    if (m[2] === "method") return (m[3] && $("#m-" + method + "-" + m[3], form)) || $("#methods-group", form);
    if (m[2] === "training") return $("#t-" + (scope.ownTraining ? method : "all") + "-" + m[3], form) || $("#training-group", form);
    if (m[2] === "hardware") return m[3] === "count" ? $("#gpu-count", form) : $("#hardware-group", form);
    return $("#models-group", form);
  }

  /* Validator words → plain words, without the field path the label already says. */
  const plainWords = (detail) => String(detail || "").replace(/^[\w.\[\]-]+: /, "").replace(/^Value error, /, "")
    .replace(/Input should be/g, "must be").replace(/less than or equal to/g, "at most").replace(/greater than or equal to/g, "at least");

  /* A refused request's problems, each placed on the field its pointer names. */
  function serverProblems(error, scopes, form) {
    const found = ((error.problem && error.problem.errors) || []).map((err) => {
      const target = targetFor(err.pointer || "", { scopes }, form);
      const name = target && target.dataset.name ? target.dataset.name + ": " : "";
      return { target, text: name + plainWords(err.detail) };
    });
    return found.length ? found : [{ target: null, text: error.message }];
  }

  // ---------- the model picker ----------
  function initModels(models, form) {
    const list = $("#models", form);
    const search = $("#model-search", form), family = $("#model-family", form), size = $("#model-size", form), license = $("#model-license", form);
    const pickedOnly = $("#model-picked-only", form);
    const distinct = (key) => Array.from(new Set(models.map((m) => m[key]).filter(Boolean))).sort();
    distinct("family").forEach((f) => el("option", { value: f }, family, f));
    SIZE_BINS.forEach(([value, label, lo, hi]) => { if (models.some((m) => m.total_params >= lo && m.total_params < hi)) el("option", { value }, size, label); });
    distinct("license").forEach((l) => el("option", { value: l }, license, l));
    for (const m of models) {
      const item = el("label", { class: "check model-option", "data-family": m.family || "", "data-license": m.license || "" }, list);
      const box = el("input", { type: "checkbox", name: "models", value: m.id }, item);
      box.checked = DEFAULT_MODELS.includes(m.id);
      el("span", { class: "model-id" }, item, m.id);
      el("span", { class: "tag" }, item, [billions(m.total_params), m.license].filter(Boolean).join(" · "));
    }
    function filter() {
      const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      const bin = SIZE_BINS.find(([value]) => value === size.value);
      let shown = 0;
      models.forEach((m, i) => {
        const hay = (m.id + " " + (m.family || "") + " " + (m.license || "")).toLowerCase();
        const ok = words.every((w) => hay.includes(w)) && (!family.value || m.family === family.value) &&
          (!license.value || m.license === license.value) && (!bin || (m.total_params >= bin[2] && m.total_params < bin[3])) &&
          (!pickedOnly.checked || list.children[i].querySelector("input").checked);
        list.children[i].hidden = !ok;
        shown += ok ? 1 : 0;
      });
      $("#models-shown", form).textContent = shown === models.length ? models.length + " models." : "Showing " + shown + " of " + models.length + " models.";
    }
    function picked() {
      const chosen = $$("input[name=models]:checked", list).map((b) => b.value);
      $("#models-picked", form).textContent = chosen.length ? chosen.length + " picked: " + chosen.join(", ") : "No model picked yet.";
    }
    [search, family, size, license, pickedOnly].forEach((node) => node.addEventListener("input", filter));
    list.addEventListener("change", picked);
    filter();
    picked();
  }

  // ---------- the methods and their settings ----------
  function initMethods(methods, trainingSchema, form) {
    const checks = $("#methods", form), panels = $("#method-settings", form);
    for (const method of methods) {
      const check = el("label", { class: "check", title: method.summary || "" }, checks);
      const box = el("input", { type: "checkbox", name: "methods", value: method.name, id: "method-" + method.name }, check);
      box.checked = DEFAULT_METHODS.includes(method.name);
      el("span", {}, check, method.name);
      el("span", { class: "tag" }, check, method.kind);
      const panel = buildMethodPanel(method, trainingSchema, panels);
      const sync = () => { if (panel) panel.hidden = !box.checked; };
      box.addEventListener("change", sync);
      sync();
    }
  }

  function buildMethodPanel(method, trainingSchema, parent) {
    const props = (method.parameter_schema && method.parameter_schema.properties) || {};
    const names = Object.keys(props).filter((n) => n !== "name" && props[n].const === undefined);
    const trains = method.kind === "finetune";
    if (!names.length && !trains) return null;
    const panel = el("section", { class: "method-panel", id: "settings-" + method.name, "aria-label": method.name + " settings" }, parent);
    el("h3", {}, panel, method.name + " settings");
    if (method.summary) el("p", { class: "hint" }, panel, method.summary);
    const params = el("div", { class: "grid-2 method-params" }, panel);
    for (const name of names) buildField(params, "m-" + method.name + "-" + name, name, props[name], (method.defaults || {})[name]);
    if (trains) {
      const own = el("label", { class: "check own-training" }, panel);
      const box = el("input", { type: "checkbox", id: "own-" + method.name, "data-method": method.name }, own);
      el("span", {}, own, "Its own training settings (otherwise the ones below)");
      const holder = el("div", { class: "own-training-fields", id: "own-fields-" + method.name, hidden: "" }, panel);
      box.addEventListener("change", () => {
        if (box.checked && !holder.childElementCount) buildTraining(holder, method.name, trainingSchema, readScope(trainingInputs("all"), []));
        holder.hidden = !box.checked;
      });
    }
    return panel;
  }

  const trainingInputs = (scope) => $$("[id^='t-" + scope + "-']").filter((n) => n.dataset.key);

  // ---------- collecting the request ----------
  function readTask(form, problems) {
    const task = readScope(["#task-name", "#task-kind", "#task-choices", "#task-examples", "#task-test-examples"].map((s) => $(s, form)), problems);
    if (!task.name) problems.unshift({ target: $("#task-name", form), text: "Give the task a name." });
    return task;
  }

  function readMethods(form, problems) {
    const chosen = $$("input[name=methods]:checked", form).map((b) => b.value);
    if (!chosen.length) problems.push({ target: $("#methods-group", form), text: "Pick at least one method." });
    const shared = readScope(trainingInputs("all"), problems);
    return chosen.map((name) => {
      const method = { name, ...readScope($$("[id^='m-" + name + "-']", form).filter((n) => n.dataset.key), problems) };
      const own = $("#own-" + name, form);
      const trains = !!$("#own-fields-" + name, form);
      const ownTraining = !!(own && own.checked);
      return { method, training: !trains ? null : ownTraining ? readScope(trainingInputs(name), problems) : shared, ownTraining };
    });
  }

  function collect(form) {
    const problems = [];
    const task = readTask(form, problems);
    const models = $$("input[name=models]:checked", form).map((b) => b.value);
    if (!models.length) problems.push({ target: $("#models-group", form), text: "Pick at least one model." });
    const methods = readMethods(form, problems);
    const gpus = $$("input[name=gpus]:checked", form).map((b) => b.value);
    if (!gpus.length) problems.push({ target: $("#hardware-group", form), text: "Pick at least one GPU kind." });
    const count = readScope([$("#gpu-count", form)], problems).gpu_count;
    const budget = readScope([$("#max-usd", form)], problems);
    const candidates = [], scopes = [];
    for (const model of models) for (const m of methods) for (const gpu of gpus) {
      const candidate = { model, method: m.method, hardware: { gpu, count: count || 1 } };
      if (m.training) candidate.training = m.training;
      candidates.push(candidate);
      scopes.push({ method: m.method.name, ownTraining: m.ownTraining });
    }
    return { problems, scopes, body: { task, candidates, budget, objective: "max_accuracy" } };
  }

  // ---------- the form ----------
  function initNewPlanForm() {
    const form = $("#plan-form");
    if (!form) return;
    const banner = $("#form-errors");
    const status = $("#form-status");
    const kind = $("#task-kind");
    const syncKind = () => {
      const generation = kind.value === "generation";
      $("#choices-field").hidden = generation;
      $("#task-choices").disabled = generation;
    };
    kind.addEventListener("change", syncKind);
    syncKind();
    for (const [sel, key, name] of STATIC_INPUTS) Object.assign($(sel).dataset, { key, name });
    initModels(readJson("form-models") || [], form);
    const trainingSchema = readJson("form-training") || { properties: {} };
    initMethods(readJson("form-methods") || [], trainingSchema, form);
    buildTraining($("#training-fields"), "all", trainingSchema, null);
    form.addEventListener("input", (e) => clearError(e.target));
    form.addEventListener("change", (e) => {
      clearError(e.target);
      const group = e.target.type === "checkbox" && e.target.closest("fieldset[data-error-id]");
      if (group) clearError(group); // a box was ticked in a group that had none
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      $$("[data-error-id]", form).forEach(clearError);
      const { problems, scopes, body } = collect(form);
      if (problems.length) { showProblems(problems, banner); return; }
      const submit = $("#create-plan");
      submit.disabled = true;
      try {
        await submitPlan(body, $("#task-dataset").files[0] || null, status);
      } catch (e) {
        status.textContent = "";
        showProblems(serverProblems(e, scopes, form), banner);
      } finally {
        submit.disabled = false;
      }
    });
  }

  async function submitPlan(body, file, status) {
    if (file) {
      // A dataset makes the task real: create it, attach the data, and plan for it by id. Its training
      // split is then the training set: the typed size would plan runs on data the task does not have.
      delete body.task.train_examples;
      status.textContent = "Uploading the dataset…";
      const task = await api("POST", "/v1/tasks", taskCreateBody(body.task));
      await uploadDataset(file, task.id);
      body.task = task.id;
    }
    status.textContent = "Predicting…";
    const plan = await api("POST", "/v1/plans", body);
    status.textContent = "Plan " + plan.id + " ready, opening…";
    window.location.assign("/plans/" + encodeURIComponent(plan.id));
  }

  window.tunecast.pages["new-plan"] = initNewPlanForm;
})();
