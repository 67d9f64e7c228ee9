/* tunecast web UI: the new-plan form. Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, $$, isNum, api, el, taskCreateBody, uploadDataset } = window.tunecast;

  const FIELD_FOR_POINTER = [
    [/^#\/task\/name/, "#task-name"], [/^#\/task\/kind/, "#task-kind"], [/^#\/task\/n_choices/, "#task-choices"],
    [/^#\/task\/train_examples/, "#task-examples"], [/^#\/grid\/models/, "#models"], [/^#\/grid\/methods/, "input[name=methods]"],
    [/^#\/grid\/hardware\/\d+\/count/, "#gpu-count"], [/^#\/grid\/hardware/, "#hardware"], [/^#\/grid\/training\/\d+\/epochs/, "#epochs"],
    [/^#\/grid\/training\/\d+\/seq_len/, "#seq-len"], [/^#\/grid\/training\/\d+\/train_examples/, "#task-examples"],
    [/^#\/budget/, "#max-usd"], [/^#\/file|^#\/lines/, "#task-dataset"],
  ];

  function initNewPlanForm() {
    const form = $("#plan-form");
    if (!form) return;
    const errors = $("#form-errors");
    const status = $("#form-status");
    const kind = $("#task-kind");
    const choices = $("#choices-field");
    const syncKind = () => {
      const generation = kind.value === "generation";
      choices.hidden = generation;
      $("#task-choices").disabled = generation;
    };
    kind.addEventListener("change", syncKind);
    syncKind();
    const models = $("#models");
    const picked = $("#models-picked");
    const syncModels = () => {
      const chosen = $$("option", models).filter((o) => o.selected).map((o) => o.value);
      picked.textContent = chosen.length ? chosen.length + " picked: " + chosen.join(", ") : "No model picked yet.";
    };
    models.addEventListener("change", syncModels);
    syncModels();
    const first = $("option:checked", models);
    if (first) models.scrollTop = Math.max(0, first.offsetTop - models.offsetTop - 28);

    function showErrors(message, items) {
      errors.innerHTML = "";
      el("strong", {}, errors, message);
      if (items && items.length) {
        const ul = el("ul", {}, errors);
        for (const item of items) {
          const li = el("li", {}, ul);
          const target = item.selector ? $(item.selector) : null;
          if (target) {
            const a = el("a", { href: "#" }, li, item.text);
            a.addEventListener("click", (e) => { e.preventDefault(); target.focus(); });
            target.setAttribute("aria-invalid", "true");
          } else {
            li.textContent = item.text;
          }
        }
      }
      errors.hidden = false;
      errors.focus();
    }

    function collect() {
      const value = (sel) => $(sel).value.trim();
      const intOrNull = (sel) => (value(sel) === "" || $(sel).disabled ? null : Number(value(sel)));
      const task = { name: value("#task-name"), kind: kind.value };
      const nChoices = intOrNull("#task-choices");
      if (nChoices !== null) task.n_choices = nChoices;
      const examples = intOrNull("#task-examples");
      if (examples !== null) task.train_examples = examples;
      const training = {};
      if (value("#epochs") !== "") training.epochs = Number(value("#epochs"));
      if (value("#seq-len") !== "") training.seq_len = Number(value("#seq-len"));
      const grid = {
        models: $$("#models option").filter((o) => o.selected).map((o) => o.value),
        methods: $$("input[name=methods]").filter((c) => c.checked).map((c) => ({ name: c.value })),
        hardware: [{ gpu: value("#hardware"), count: Number(value("#gpu-count") || 1) }],
      };
      if (isNum(examples)) training.train_examples = examples;
      if (Object.keys(training).length) grid.training = [training];
      const budget = {};
      if (value("#max-usd") !== "") budget.max_usd = Number(value("#max-usd"));
      return { task, grid, budget, objective: "max_accuracy" };
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      $$("[aria-invalid]", form).forEach((n) => n.removeAttribute("aria-invalid"));
      errors.hidden = true;
      const body = collect();
      const problems = [];
      if (!body.task.name) problems.push({ text: "Give the task a name.", selector: "#task-name" });
      if (!body.grid.models.length) problems.push({ text: "Pick at least one model.", selector: "#models" });
      if (!body.grid.methods.length) problems.push({ text: "Pick at least one method.", selector: "input[name=methods]" });
      if (problems.length) { showErrors("The plan is not complete:", problems); return; }
      const submit = $("#create-plan");
      submit.disabled = true;
      const file = $("#task-dataset").files[0] || null;
      try {
        if (file) {
          // A dataset makes the task real: create it, attach the data, and plan for it by id. Its training
          // split is then the training set: the typed size would plan runs on data the task does not have.
          delete body.task.train_examples;
          for (const t of body.grid.training || []) delete t.train_examples;
          if ((body.grid.training || []).every((t) => !Object.keys(t).length)) delete body.grid.training;
          status.textContent = "Uploading the dataset…";
          const task = await api("POST", "/v1/tasks", taskCreateBody(body.task));
          await uploadDataset(file, task.id);
          body.task = task.id;
        }
        status.textContent = "Predicting…";
        const plan = await api("POST", "/v1/plans", body);
        status.textContent = "Plan " + plan.id + " ready, opening…";
        window.location.assign("/plans/" + encodeURIComponent(plan.id));
      } catch (e) {
        status.textContent = "";
        const items = ((e.problem && e.problem.errors) || []).map((err) => {
          const pointer = err.pointer || "";
          const match = FIELD_FOR_POINTER.find(([re]) => re.test(pointer));
          return { text: (pointer ? pointer.replace(/^#\//, "").replace(/\//g, ".") + ": " : "") + err.detail, selector: match && match[1] };
        });
        showErrors("The server did not accept the plan: " + e.message, items);
      } finally {
        submit.disabled = false;
      }
    });
  }

  // ---------- run page ----------

  window.tunecast.pages["new-plan"] = initNewPlanForm;
})();
