/* tunecast web UI: the plan page (live budget, SVG chart, sortable table, verify). Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, $$, readJson, isNum, fmt, api, el, svg, modelId, methodName, methodLabel, hardwareLabel, candidateLabel, totalUsd, methodColors, linearScale, logScale, drawAxes, placeTooltip, taskCreateBody, uploadDataset } = window.tunecast;

  function initPlanPage() {
    const plan = readJson("plan-data");
    if (!plan) return;
    const runKinds = readJson("run-kinds") || {};
    const rows = (Array.isArray(plan.candidates) ? plan.candidates : []).map((row, i) => ({
      ...row,
      index: isNum(row.index) ? row.index : i,
      usd: totalUsd(row),
      acc: row.accuracy || {},
      fits: row.fits !== false && !(row.cost && row.cost.fits === false),
    }));
    const byIndex = new Map(rows.map((r) => [r.index, r]));
    const colors = methodColors(rows.map((r) => methodName(r.candidate)));
    const frontier = (Array.isArray(plan.frontier) ? plan.frontier : [])
      .map((f) => (isNum(f) ? f : f && isNum(f.index) ? f.index : null))
      .filter((i) => byIndex.has(i));
    const serverRec = plan.recommendation && isNum(plan.recommendation.index) ? plan.recommendation : null;

    const slider = $("#budget-range");
    const number = $("#budget-usd");
    const fitOut = $("#budget-fit");
    const recBox = $("#recommendation");
    const chartBox = $("#chart");
    const tip = $("#chart-tooltip");
    if (tip && chartBox) chartBox.appendChild(tip);

    // Colour swatches in the table
    $$(".swatch[data-method]").forEach((s) => { s.style.background = colors.get(s.dataset.method) || "#999"; });

    // Budget scale: log between a bit under the cheapest and a bit over the dearest candidate.
    const costs = rows.map((r) => r.usd).filter((v) => isNum(v) && v > 0);
    const minCost = costs.length ? Math.min(...costs) : 0.01;
    const maxCost = costs.length ? Math.max(...costs) : 1;
    const lo = minCost / 1.5, hi = maxCost * 1.5;
    const STEPS = 1000;
    const toUsd = (v) => 10 ** (Math.log10(lo) + (v / STEPS) * (Math.log10(hi) - Math.log10(lo)));
    const toSlider = (usd) => Math.max(0, Math.min(STEPS, Math.round(((Math.log10(Math.max(usd, 1e-12)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * STEPS)));
    const fittingCosts = rows.filter((r) => r.fits && isNum(r.usd)).map((r) => r.usd);
    const minFitting = fittingCosts.length ? Math.min(...fittingCosts) : NaN;
    const budgetText = () => (budget >= 1000 ? fmt.usd(budget) : "$" + (budget >= 1 ? budget.toFixed(2) : String(budget)));
    const tidy = (usd) => (usd >= 100 ? Math.round(usd) : usd >= 1 ? Math.round(usd * 100) / 100 : Number(usd.toPrecision(3)));

    const requested = (plan.request && plan.request.budget && plan.request.budget.max_usd) ?? (plan.budget && plan.budget.max_usd);
    let budget = isNum(requested) ? requested : tidy(hi);
    let recIndex = serverRec ? serverRec.index : null;
    let recReason = serverRec ? serverRec.reason || "" : "";

    function bestUnder(limit) {
      let best = null;
      for (const r of rows) {
        if (!r.fits || !isNum(r.usd) || r.usd > limit * (1 + 1e-12) || !isNum(r.acc.mean)) continue;
        if (!best || r.acc.mean > best.acc.mean || (r.acc.mean === best.acc.mean && r.usd < best.usd)) best = r;
      }
      return best;
    }

    function renderRecommendation() {
      recBox.innerHTML = "";
      const row = recIndex === null ? null : byIndex.get(recIndex);
      recBox.dataset.index = row ? String(row.index) : "";
      recBox.classList.toggle("infeasible", !row);
      if (!row) {
        el("p", { class: "rec-label" }, recBox, "No candidate fits");
        el("p", { class: "rec-main" }, recBox, "Nothing that fits in GPU memory costs " + budgetText() + " or less.");
        if (isNum(minFitting)) el("p", {}, recBox, "The cheapest that fits costs " + fmt.usd(minFitting) + ".");
        return;
      }
      el("p", { class: "rec-label" }, recBox, "Recommended");
      const main = el("p", { class: "rec-main" }, recBox);
      el("strong", {}, main, modelId(row.candidate));
      main.append(" · " + methodLabel(row.candidate) + " · " + hardwareLabel(row.candidate));
      el("p", {}, recBox, "Predicted accuracy " + fmt.pct(row.acc.mean) + " (90 % interval " + fmt.pct(row.acc.lower) +
        "–" + fmt.pct(row.acc.upper) + "), cost " + fmt.usd(row.usd));
      const link = el("p", { class: "small" }, recBox);
      const a = el("a", { href: "#cand-" + row.index }, link, "Show in table");
      a.addEventListener("click", (e) => { e.preventDefault(); focusRow(row.index); });
      if (recReason) el("p", { class: "muted small" }, recBox, recReason);
    }

    function applyBudget(fromServer) {
      if (!fromServer) {
        const best = bestUnder(budget);
        recIndex = best ? best.index : null;
        recReason = "Highest predicted accuracy costing at most " + budgetText() + " and fitting in GPU memory (ties go to the cheaper).";
      }
      const fitting = rows.filter((r) => r.fits && isNum(r.usd) && r.usd <= budget * (1 + 1e-12)).length;
      fitOut.textContent = fitting + " of " + rows.length + " candidates cost at most " + budgetText() + " and fit in GPU memory.";
      slider.setAttribute("aria-valuetext", budgetText());
      renderRecommendation();
      for (const tr of $$("#candidates tbody tr")) {
        const r = byIndex.get(Number(tr.dataset.index));
        tr.classList.toggle("is-rec", !!r && r.index === recIndex);
        tr.classList.toggle("off", !!r && isNum(r.usd) && r.usd > budget * (1 + 1e-12));
      }
      chart.update();
    }

    slider.addEventListener("input", () => {
      budget = tidy(toUsd(Number(slider.value)));
      number.value = String(budget);
      applyBudget(false);
    });
    number.addEventListener("input", () => {
      const v = Number(number.value);
      if (number.value === "" || !Number.isFinite(v) || v < 0) return;
      budget = v;
      slider.value = String(toSlider(v));
      applyBudget(false);
    });

    // ----- chart -----
    const chart = (function () {
      let state = null;
      let renderedWidth = 0;
      function resized() {
        return Boolean(chartBox) && Math.max(300, chartBox.clientWidth || 800) !== renderedWidth;
      }
      function render() {
        if (!chartBox) return;
        const width = Math.max(300, chartBox.clientWidth || 800);
        renderedWidth = width;
        const active = document.activeElement;
        const focusedIndex = active && active.closest && chartBox.contains(active) && active.closest(".pt") ? active.closest(".pt").dataset.index : null;
        const height = Math.round(Math.max(260, Math.min(440, width * 0.5)));
        const narrow = width < 520;
        const box = { l: narrow ? 50 : 60, r: width - 14, t: 12, b: height - 44 };
        $$("svg", chartBox).forEach((n) => n.remove());
        const root = svg("svg", { viewBox: "0 0 " + width + " " + height, width, height, role: "group",
          "aria-label": "Cost versus predicted accuracy of " + rows.length + " candidates" });
        chartBox.insertBefore(root, chartBox.firstChild);
        const plotted = rows.filter((r) => isNum(r.usd) && isNum(r.acc.mean));
        const floor = minCost / 2;
        const xv = (r) => Math.max(r.usd, floor);
        const x = logScale(lo, hi, box.l, box.r);
        let y0 = Math.min(...plotted.map((r) => (isNum(r.acc.lower) ? r.acc.lower : r.acc.mean)));
        let y1 = Math.max(...plotted.map((r) => (isNum(r.acc.upper) ? r.acc.upper : r.acc.mean)));
        if (!plotted.length) { y0 = 0; y1 = 1; }
        const pad = Math.max(0.02, (y1 - y0) * 0.08);
        y0 = Math.max(0, y0 - pad); y1 = Math.min(1, y1 + pad);
        const y = linearScale(y0, y1, box.b, box.t);
        drawAxes(root, x, y, box, {
          xFormat: fmt.usdShort, yFormat: (t) => (100 * t).toFixed(y1 - y0 < 0.1 ? 1 : 0) + "%",
          xLabel: "Cost, USD (log scale)", yLabel: "Predicted accuracy", xTicks: narrow ? 4 : 7,
        });
        const shade = svg("rect", { class: "over-budget", y: box.t, height: box.b - box.t }, root);
        const line = svg("line", { class: "budget-line", y1: box.t, y2: box.b }, root);
        const label = svg("text", { class: "budget-label", y: box.t + 12, "text-anchor": "end" }, root);
        // Pareto frontier, by cost
        const fr = frontier.map((i) => byIndex.get(i)).filter((r) => r && isNum(r.usd) && isNum(r.acc.mean)).sort((a, b) => a.usd - b.usd);
        if (fr.length > 1) {
          svg("polyline", { class: "frontier", points: fr.map((r) => x(xv(r)).toFixed(1) + "," + y(r.acc.mean).toFixed(1)).join(" ") }, root);
        }
        const frontierSet = new Set(frontier);
        const points = new Map();
        const layer = svg("g", { class: "points" }, root);
        for (const r of plotted) {
          const color = colors.get(methodName(r.candidate)) || "#999";
          const px = x(xv(r)), py = y(r.acc.mean);
          const g = svg("g", { class: "pt", tabindex: "0", role: "button", "data-index": r.index,
            "aria-label": candidateLabel(r.candidate) + ": " + fmt.usd(r.usd) + ", predicted accuracy " + fmt.pct(r.acc.mean) +
              (frontierSet.has(r.index) ? ", on the Pareto frontier" : "") + (r.fits ? "" : ", does not fit in GPU memory") }, layer);
          if (isNum(r.acc.lower) && isNum(r.acc.upper)) {
            svg("line", { x1: px, x2: px, y1: y(r.acc.lower), y2: y(r.acc.upper), stroke: color, "stroke-width": 1.5, opacity: 0.75 }, g);
            for (const v of [r.acc.lower, r.acc.upper]) svg("line", { x1: px - 3, x2: px + 3, y1: y(v), y2: y(v), stroke: color, "stroke-width": 1.5, opacity: 0.75 }, g);
          }
          svg("circle", { class: "halo", cx: px, cy: py, r: 11, fill: "none", stroke: "#111827", "stroke-width": 2 }, g);
          svg("circle", { class: "dot", cx: px, cy: py, r: frontierSet.has(r.index) ? 6 : 4.5, fill: r.fits ? color : "#fff",
            stroke: frontierSet.has(r.index) ? "#111827" : r.fits ? "#fff" : color, "stroke-width": frontierSet.has(r.index) || !r.fits ? 1.8 : 1 }, g);
          svg("circle", { cx: px, cy: py, r: 11, fill: "transparent" }, g); // a bigger hover target
          const show = () => showTip(r, g);
          g.addEventListener("mouseenter", show);
          g.addEventListener("focus", show);
          g.addEventListener("mouseleave", hideTip);
          g.addEventListener("blur", hideTip);
          g.addEventListener("click", () => focusRow(r.index));
          g.addEventListener("keydown", (e) => {
            if (e.key === "Enter" || e.key === " ") { e.preventDefault(); focusRow(r.index); }
            if (e.key === "Escape") hideTip();
          });
          points.set(r.index, g);
        }
        root.appendChild(label); // above the points, but never in the way of the pointer
        state = { x, box, shade, line, label, points };
        update();
        if (focusedIndex !== null && points.has(Number(focusedIndex))) points.get(Number(focusedIndex)).focus({ preventScroll: true });
      }
      function update() {
        if (!state) return;
        const { x, box, shade, line, label, points } = state;
        const bx = Math.max(box.l, Math.min(box.r, x(Math.max(budget, lo))));
        shade.setAttribute("x", bx);
        shade.setAttribute("width", Math.max(0, box.r - bx));
        line.setAttribute("x1", bx); line.setAttribute("x2", bx);
        const leftRoom = bx - box.l > 100;
        label.setAttribute("x", leftRoom ? bx - 4 : bx + 4);
        label.setAttribute("text-anchor", leftRoom ? "end" : "start");
        label.textContent = "budget " + budgetText();
        for (const [i, g] of points) {
          const r = byIndex.get(i);
          g.classList.toggle("off", r.usd > budget * (1 + 1e-12));
          g.classList.toggle("rec", i === recIndex);
          if (i === recIndex && g.parentNode.lastChild !== g) { // draw on top, keeping keyboard focus on it
            const focused = document.activeElement === g;
            g.parentNode.appendChild(g);
            if (focused) g.focus({ preventScroll: true });
          }
        }
      }
      return { render, update, resized };
    })();

    function showTip(r, target) {
      if (!tip) return;
      const c = r.cost || {};
      tip.innerHTML = "";
      el("strong", {}, tip, candidateLabel(r.candidate));
      el("div", {}, tip, "Accuracy " + fmt.pct(r.acc.mean) + " (" + fmt.pct(r.acc.lower) + "–" + fmt.pct(r.acc.upper) + ")" +
        (r.acc.tier ? ", " + r.acc.tier : ""));
      const table = el("table", {}, tip);
      const line = (k, v) => { const tr = el("tr", {}, table); el("td", {}, tr, k); el("td", {}, tr, v); };
      line("Total", fmt.usd(r.usd));
      if (isNum(c.train_usd)) line("Training", fmt.usd(c.train_usd));
      for (const key of ["eval_usd", "evaluation_usd", "probe_usd", "inference_usd"]) if (isNum(c[key])) line(key.replace(/_usd$/, "").replace(/_/g, " ").replace(/^./, (s) => s.toUpperCase()), fmt.usd(c[key]));
      if (isNum(c.inference_usd_per_1k_queries)) line("Inference /1k queries", fmt.usd(c.inference_usd_per_1k_queries));
      if (isNum(c.train_gpu_hours)) line("GPU-hours", fmt.num(c.train_gpu_hours));
      if (isNum(c.peak_memory_bytes)) line("Peak memory", fmt.gib(c.peak_memory_bytes) + (c.fits === false ? " (does not fit)" : ""));
      const mb = c.memory_breakdown;
      if (mb && typeof mb === "object") {
        const parts = Object.entries(mb).filter(([, v]) => isNum(v) && v > 0).sort((a, b) => b[1] - a[1]).slice(0, 3);
        if (parts.length) line("  of which", parts.map(([k, v]) => k + " " + fmt.gib(v)).join(", "));
      }
      if (isNum(c.step_time_s)) line("Step time", fmt.num(c.step_time_s) + " s");
      placeTooltip(tip, chartBox, target.querySelector(".dot") || target);
    }
    function hideTip() { if (tip) tip.hidden = true; }

    function focusRow(index) {
      const tr = document.getElementById("cand-" + index);
      if (!tr) return;
      tr.scrollIntoView({ block: "center", behavior: "smooth" });
      tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash");
      const button = $("button.verify", tr);
      if (button) button.focus({ preventScroll: true });
    }

    // ----- legend -----
    const legend = $("#legend");
    if (legend) {
      for (const [name, color] of colors) {
        const li = el("li", {}, legend);
        const s = el("span", { class: "swatch", "aria-hidden": "true" }, li);
        s.style.background = color;
        li.append(name);
      }
      const f = el("li", {}, legend); el("span", { class: "swatch line-key", "aria-hidden": "true" }, f); f.append("Pareto frontier");
      const b = el("li", {}, legend); el("span", { class: "swatch budget-key", "aria-hidden": "true" }, b); b.append("budget");
      if (rows.some((r) => !r.fits)) { const h = el("li", {}, legend); el("span", { class: "swatch hollow-key", "aria-hidden": "true" }, h); h.append("does not fit in GPU memory"); }
    }

    // ----- sortable table -----
    const table = $("#candidates");
    function sortBy(th, direction) {
      const col = Array.from(th.parentNode.children).indexOf(th);
      const numeric = $("button", th).dataset.type === "num";
      const tbody = table.tBodies[0];
      const trs = Array.from(tbody.rows).map((tr, i) => ({ tr, i, v: tr.cells[col].dataset.sort }));
      const sign = direction === "ascending" ? 1 : -1;
      trs.sort((a, b) => {
        const av = numeric ? parseFloat(a.v) : a.v, bv = numeric ? parseFloat(b.v) : b.v;
        const aMissing = numeric ? !Number.isFinite(av) : !av, bMissing = numeric ? !Number.isFinite(bv) : !bv;
        if (aMissing || bMissing) return aMissing === bMissing ? a.i - b.i : aMissing ? 1 : -1;
        const cmp = numeric ? av - bv : String(av).localeCompare(String(bv), undefined, { numeric: true });
        return cmp ? sign * cmp : a.i - b.i;
      });
      for (const { tr } of trs) tbody.appendChild(tr);
      for (const other of $$("th[aria-sort]", table)) other.setAttribute("aria-sort", "none");
      th.setAttribute("aria-sort", direction);
    }
    if (table) {
      // One hardware for every candidate: the column says nothing, so narrow screens drop it.
      table.classList.toggle("same-hw", new Set(rows.map((r) => hardwareLabel(r.candidate))).size <= 1);
      for (const button of $$("thead th button", table)) {
        button.addEventListener("click", () => {
          const th = button.closest("th");
          sortBy(th, th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
        });
      }
      const initial = $("th[aria-sort=ascending]", table);
      if (initial) sortBy(initial, "ascending");
    }

    // ----- verify: queue a real run -----
    // A run needs a task with a dataset; workers load the model by id from their model roots (offline).
    const dialog = $("#verify-dialog");
    const vForm = $("#verify-form");
    const vErrors = $("#verify-errors");
    const storedTaskKey = "tunecast.planTask." + plan.id;
    const pathKey = (id) => "tunecast.modelPath." + id;
    const store = {
      get(k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
      set(k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* private mode */ } },
    };
    let verifying = null;
    let opener = null;
    function planTaskId() {
      const req = plan.request || {};
      if (typeof req.task_id === "string" && req.task_id) return req.task_id;
      if (typeof req.task === "string" && req.task) return req.task;
      return store.get(storedTaskKey);
    }
    function openVerify(button) {
      const row = byIndex.get(Number(button.dataset.index));
      if (!row || !dialog) return;
      verifying = row;
      opener = button;
      const kind = runKinds[methodName(row.candidate)] || "finetune";
      $("#verify-what").textContent = (kind === "finetune" ? "A real fine-tune" : "A real ICL probe") + " of " + candidateLabel(row.candidate) +
        ", predicted " + fmt.pct(row.acc.mean) + " for " + fmt.usd(row.usd) + ". Its measurement is checked against the prediction.";
      $("#verify-model-path").value = store.get(pathKey(modelId(row.candidate))) || "";
      describeWorkers(modelId(row.candidate));
      const task = planTaskId();
      $("#verify-task").textContent = task ? "Task " + task + "." : "This plan's task has no dataset yet: upload one to run on.";
      $("#verify-dataset-need").textContent = task ? "(only if the task has none yet)" : "(required)";
      $("#verify-dataset").value = "";
      $("#verify-steps-field").hidden = kind !== "finetune";
      vErrors.hidden = true;
      $$("[aria-invalid]", vForm).forEach((n) => n.removeAttribute("aria-invalid"));
      if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
      $("#verify-model-path").focus();
    }
    async function describeWorkers(id) {
      // Which live worker can load this model (workers resolve ids under their model roots).
      const out = $("#verify-worker");
      out.textContent = "";
      try {
        const page = await api("GET", "/v1/workers?live=true");
        const workers = Array.isArray(page.items) ? page.items : [];
        const able = workers.filter((w) => (w.models || []).some((m) => m && m.id === id));
        if (able.length) {
          const where = (w) => w.name + " (" + (w.hardware && w.hardware.device === "cuda" ? w.hardware.name : "CPU") + ")";
          const cpuOnly = able.every((w) => !w.hardware || w.hardware.device !== "cuda");
          out.textContent = "Runs on " + able.map(where).join(", ") + ", which can load " + id + "." +
            (cpuOnly ? " A CPU run checks the accuracy forecast; its time and memory say nothing about the GPU it was costed on." : "");
        } else if (workers.length) {
          const roots = [...new Set(workers.flatMap((w) => w.model_roots || []))].join(", ");
          out.textContent = "No live worker can load " + id + ": put its weights at <root>/" + id + "/ under a model root (" + roots + "), or give a path inside one.";
        } else {
          const embedded = page.embedded && page.embedded.state ? " (the embedded worker is " + page.embedded.state + (page.embedded.detail ? ": " + page.embedded.detail : "") + ")" : "";
          out.textContent = "No worker is live right now" + embedded + "; the run will wait in its queue until one is.";
        }
      } catch (e) { /* the dialog works without it */ }
    }
    function closeVerify() {
      if (dialog.open) dialog.close();
      if (opener) opener.focus();
    }
    function runCandidate(c, path) {
      // The candidate as planned (same training fields); the worker finds the model by id unless a path is given.
      const model = path ? { id: modelId(c), path } : modelId(c);
      return { model, method: c.method, training: c.training || {}, hardware: c.hardware || null };
    }
    async function ensureTask(file) {
      let task = planTaskId();
      if (!task && !file) throw new Error("upload the task's dataset (JSONL) first");
      if (!task) {
        const t = plan.task && typeof plan.task === "object" ? plan.task : {};
        const created = await api("POST", "/v1/tasks", taskCreateBody(t));
        task = created.id;
        store.set(storedTaskKey, task);
      }
      if (file) await uploadDataset(file, task);
      return task;
    }
    async function verifySubmit(event) {
      event.preventDefault();
      const row = verifying;
      if (!row) return;
      const pathInput = $("#verify-model-path");
      const path = pathInput.value.trim();
      const file = $("#verify-dataset").files[0] || null;
      const submit = $("#verify-submit");
      submit.disabled = true;
      const status = document.getElementById("cand-" + row.index + "-status");
      try {
        const kind = runKinds[methodName(row.candidate)] || "finetune";
        const task = await ensureTask(file);
        const body = { kind, candidate: runCandidate(row.candidate, path), task, plan: plan.id };
        const prediction = row.prediction_id || row.prediction;
        if (typeof prediction === "string" && prediction) body.prediction = prediction; // the run then checks it
        const steps = Number($("#verify-steps").value);
        if (kind === "finetune" && $("#verify-steps").value !== "" && steps >= 1) body.options = { steps };
        const run = await api("POST", "/v1/runs", body);
        if (path) store.set(pathKey(modelId(row.candidate)), path);
        status.classList.remove("warn");
        status.textContent = "";
        el("a", { href: "/runs/" + encodeURIComponent(run.id), class: "run-link" }, status, "Run " + (run.status || "queued") + " →");
        closeVerify();
      } catch (e) {
        vErrors.textContent = "Not queued: " + e.message;
        vErrors.hidden = false;
        vErrors.focus();
      } finally {
        submit.disabled = false;
      }
    }
    if (dialog) {
      vForm.addEventListener("submit", verifySubmit);
      $("#verify-close").addEventListener("click", closeVerify);
      dialog.addEventListener("cancel", () => { if (opener) setTimeout(() => opener.focus(), 0); });
    }
    $$("button.verify").forEach((b) => b.addEventListener("click", () => openVerify(b)));

    // ----- start -----
    number.value = String(budget);
    slider.value = String(toSlider(budget));
    chart.render();
    applyBudget(serverRec !== null);
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      // only a new width redraws (a full-page screenshot or a scrollbar fires resize without one)
      resizeTimer = setTimeout(() => { if (chart.resized()) { hideTip(); chart.render(); } }, 120);
    });
  }

  // ---------- new plan form ----------

  window.tunecast.pages["plan"] = initPlanPage;
})();
