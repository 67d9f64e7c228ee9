/* tunecast web UI: the run page. State from GET /v1/runs/{id} (polled while the run is not finished), the
   loss curve from the run's event stream (GET /v1/runs/{id}/events, every progress event since the start).
   Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, TERMINAL, readJson, isNum, fmt, api, el, svg, linearScale, drawAxes, runStateText } = window.tunecast;
  const POLL_MS = 2000;
  const MAX_LOSS_DOTS = 200;

  const bytes = (v) => (!isNum(v) ? "—" : v >= 2 ** 30 ? fmt.gib(v) : (v / 2 ** 20).toFixed(0) + " MiB");
  function flops(v) {
    if (!isNum(v)) return "—";
    const units = [[1e18, "EFLOP"], [1e15, "PFLOP"], [1e12, "TFLOP"], [1e9, "GFLOP"]];
    const [scale, unit] = units.find(([s]) => v >= s) || [1, "FLOP"];
    return fmt.num(v / scale, 3) + " " + unit;
  }
  const text = (v) => (typeof v === "string" && v ? v : "—");

  /* What a run's result says, in words and units; fields not listed stay in the raw JSON below. */
  const RESULT_FIELDS = [
    ["accuracy", "Accuracy", (v) => fmt.pct(v)],
    ["final_loss", "Final training loss", (v) => fmt.num(v, 4)],
    ["peak_memory_bytes", "Peak memory", bytes],
    ["wall_s", "Wall-clock time", fmt.duration],
    ["train_s", "Training time", fmt.duration],
    ["step_time_s", "Time per step", fmt.duration],
    ["steps", "Optimizer steps", fmt.count],
    ["resumed_from_step", "Resumed from step", fmt.count],
    ["n_train", "Training examples used", fmt.count],
    ["n_test", "Test examples evaluated", fmt.count],
    ["tokens_processed", "Tokens processed", fmt.count],
    ["flops", "Compute", flops],
    ["gpu_hours", "GPU-hours", (v) => fmt.num(v, 3)],
    ["cpu_hours", "CPU-hours", (v) => fmt.num(v, 3)],
    ["trainable_params", "Trainable parameters", fmt.count],
    ["total_params", "Parameters", fmt.count],
    ["learning_rate", "Learning rate", (v) => fmt.num(v, 3)],
    ["precision_used", "Precision used", text],
    ["out_of_memory", "Out of memory", text],
  ];

  function renderResult(run) {
    const res = run.result && typeof run.result === "object" ? run.result : {};
    const box = $("#run-result");
    box.textContent = "";
    const shown = RESULT_FIELDS.filter(([key]) => isNum(res[key]) || (typeof res[key] === "string" && res[key]));
    if (res.fits === false) el("p", { class: "run-verdict bad" }, box, "The candidate did not fit in the worker's memory.");
    if (!shown.length) { el("p", { class: "muted" }, box, TERMINAL.has(run.status) ? "The run reported no result." : "No result yet."); }
    else {
      const dl = el("dl", { class: "facts" }, box);
      for (const [key, label, format] of shown) {
        const item = el("div", { "data-field": key }, dl);
        el("dt", {}, item, label);
        el("dd", {}, item, format(res[key]));
      }
    }
    $("#run-raw").textContent = JSON.stringify(res, null, 2);
  }

  /* Predicted next to measured: the accuracy interval the plan gave and where the measurement fell. */
  function accuracyVerdict(predicted, measured) {
    if (!predicted || !isNum(measured) || !isNum(predicted.lower) || !isNum(predicted.upper)) return "";
    if (measured < predicted.lower) return "below the interval by " + fmt.num(100 * (predicted.lower - measured), 2) + " points";
    if (measured > predicted.upper) return "above the interval by " + fmt.num(100 * (measured - predicted.upper), 2) + " points";
    return "inside the interval";
  }
  const ratioVerdict = (p, m) => (isNum(p) && isNum(m) && p > 0 ? "measured " + fmt.num(m / p, 2) + "× the prediction" : "");

  function compareRows(run) {
    const acc = run.predicted_accuracy;
    const predicted = run.predicted || {};
    const res = run.result || {};
    const interval = acc && isNum(acc.lower) && isNum(acc.upper) ? " (" + fmt.pct(acc.lower) + " – " + fmt.pct(acc.upper) + ")" : "";
    return [
      ["accuracy", "Accuracy", acc ? fmt.pct(acc.mean) + interval : "—", fmt.pct(res.accuracy), accuracyVerdict(acc, res.accuracy)],
      ["peak_memory", "Peak memory", bytes(predicted.peak_memory_bytes), bytes(res.peak_memory_bytes), ratioVerdict(predicted.peak_memory_bytes, res.peak_memory_bytes)],
      ["step_time", "Time per step", fmt.duration(predicted.step_time_s), fmt.duration(res.step_time_s), ratioVerdict(predicted.step_time_s, res.step_time_s)],
    ];
  }

  function renderCompare(run) {
    const tbody = $("#run-compare tbody");
    tbody.textContent = "";
    for (const [key, label, predicted, measured, verdict] of compareRows(run)) {
      const tr = el("tr", { "data-quantity": key }, tbody);
      el("th", { scope: "row" }, tr, label);
      el("td", { class: "num" }, tr, predicted);
      el("td", { class: "num" }, tr, measured === "—" && !TERMINAL.has(run.status) ? "not yet" : measured);
      el("td", { class: verdict.startsWith("inside") ? "ok" : verdict.includes("interval") ? "bad" : "" }, tr, verdict || "—");
    }
    const acc = run.predicted_accuracy;
    $("#run-compare-note").textContent = acc ?
      "The accuracy was predicted by " + acc.predictor + " (" + acc.tier + " tier); the interval is the plan's central interval." :
      "This run verifies no stored prediction, so there is no accuracy interval to check (queue it with “Verify” on a plan).";
  }

  /* The progress bar and its line. A finished run's bar stands still at the step it reached. */
  function renderProgress(run, waitingFor) {
    const bar = $("#run-progress");
    const p = run.progress || {};
    const status = String(run.status);
    bar.classList.toggle("stopped", status === "failed" || status === "cancelled");
    if (isNum(p.total) && p.total > 0) bar.max = p.total;
    if (isNum(p.step)) bar.value = p.step;
    else if (status === "succeeded") { bar.max = 1; bar.value = 1; }
    else if (TERMINAL.has(status)) bar.value = 0;
    else bar.removeAttribute("value"); // queued or starting: indeterminate
    let line = isNum(p.step) ? "Step " + p.step + (isNum(p.total) ? " of " + p.total : "") : runStateText(run);
    if (status === "queued") line = runStateText(run) + ": " + waitingFor;
    if (status === "failed") line = isNum(p.step) ? "Stopped at step " + p.step + (isNum(p.total) ? " of " + p.total : "") : "Stopped before its first step";
    if (isNum(p.loss)) line += " · loss " + fmt.num(p.loss, 4);
    if (typeof p.phase === "string" && !TERMINAL.has(status)) line += " · " + p.phase;
    line = line.charAt(0).toUpperCase() + line.slice(1);
    const node = $("#run-progress-text");
    if (node.textContent !== line) node.textContent = line;
  }

  function renderFailure(run, reason) {
    const box = $("#run-failure");
    const status = String(run.status);
    box.hidden = status !== "failed" && status !== "cancelled";
    if (box.hidden) return;
    $("#run-failure-title").textContent = status === "failed" ? "This run failed." : "This run was cancelled.";
    $("#run-error").textContent = run.error || reason || (status === "failed" ? "The worker gave no reason." : "");
  }

  function renderFacts(run) {
    $("#run-started").textContent = fmt.time(run.started_at);
    $("#run-finished").textContent = fmt.time(run.finished_at);
    const end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
    $("#run-took").textContent = run.started_at ? fmt.duration((end - Date.parse(run.started_at)) / 1000) : "—";
    $("#run-queue").textContent = run.queue + (isNum(run.queue_position) ? " (" + runStateText(run) + ")" : "");
    if (isNum(run.attempts)) $("#run-attempts").textContent = String(run.attempts);
    const hw = run.result && run.result.worker_hardware;
    if (hw && typeof hw === "object") {
      $("#run-hardware").textContent = hw.device === "cuda" ? (hw.count || 1) + "× " + (hw.name || "GPU") + " (GPU)" :
        "CPU" + (hw.name ? " (" + hw.name + ")" : "") + " on " + (hw.hostname || "a worker");
    }
  }

  /* The loss curve: one point per progress event that carries a loss (the latest per step). */
  function drawLoss(points, run) {
    const box = $("#loss-chart");
    box.textContent = "";
    const steps = Array.from(points.keys()).sort((a, b) => a - b);
    const caption = $("#loss-caption");
    box.classList.toggle("is-empty", steps.length < 1);
    if (!steps.length) {
      caption.textContent = run.kind !== "finetune" ? "This kind of run trains nothing, so it reports no loss." :
        TERMINAL.has(run.status) ? "The run reported no training loss." : "The loss curve appears with the first training step.";
      return;
    }
    caption.textContent = "Training loss at " + steps.length + " reported step" + (steps.length === 1 ? "" : "s") + ", last " + fmt.num(points.get(steps[steps.length - 1]), 4) + ".";
    const width = Math.max(320, box.clientWidth || 640), height = 220;
    const plot = { l: 56, r: width - 14, t: 10, b: height - 42 };
    const losses = steps.map((s) => points.get(s));
    const lo = Math.min(...losses), hi = Math.max(...losses);
    const pad = (hi - lo || Math.abs(hi) || 1) * 0.1;
    const x = linearScale(Math.min(0, steps[0]), Math.max(steps[steps.length - 1], 1), plot.l, plot.r);
    const y = linearScale(Math.max(0, lo - pad), hi + pad, plot.b, plot.t);
    const root = svg("svg", { viewBox: "0 0 " + width + " " + height, width, height }, box);
    drawAxes(root, x, y, plot, { xLabel: "optimizer step", yLabel: "loss", xFormat: (t) => fmt.num(t, 3), yFormat: (t) => fmt.num(t, 3), yTicks: 4, xTicks: 6 });
    svg("polyline", { class: "loss-line", points: steps.map((s) => x(s) + "," + y(points.get(s))).join(" ") }, root);
    if (steps.length > MAX_LOSS_DOTS) return; // a long run's curve is the line alone
    for (const s of steps) svg("circle", { class: "loss-pt", cx: x(s), cy: y(points.get(s)), r: 3 }, root, undefined);
  }

  /* Everything the page shows, from the latest run and what the event stream said. */
  function render(state) {
    const run = state.run;
    const status = String(run.status || "unknown");
    const badge = $("#run-status");
    badge.textContent = status;
    badge.className = "badge status-" + status;
    badge.dataset.status = status;
    const waiting = run.waiting_for && typeof run.waiting_for.message === "string" ? run.waiting_for.message : "waiting for a worker";
    renderProgress(run, waiting);
    renderFailure(run, state.reason);
    renderFacts(run);
    renderCompare(run);
    renderResult(run);
    drawLoss(state.loss, run);
    $("#run-cancel").hidden = TERMINAL.has(status);
    $("#run-cancel-note").textContent = state.cancelAsked && !TERMINAL.has(status) ? "Cancel requested: the run stops at its next step." : "";
  }

  /* The run's events from the start: every loss for the curve, and each status change (with its reason). */
  function follow(state, refresh) {
    const stream = new EventSource("/v1/runs/" + encodeURIComponent(state.run.id) + "/events");
    const data = (event) => { try { return JSON.parse(event.data); } catch (e) { return {}; } };
    stream.addEventListener("progress", (event) => {
      const p = data(event);
      if (!isNum(p.step) || !isNum(p.loss)) return;
      state.loss.set(p.step, p.loss);
      // a replay of a long run's events redraws once per frame, not once per event
      if (!state.drawing) state.drawing = requestAnimationFrame(() => { state.drawing = 0; drawLoss(state.loss, state.run); });
    });
    stream.addEventListener("status", (event) => {
      const s = data(event);
      if (typeof s.reason === "string") state.reason = s.reason;
      if (s.cancel_requested) state.cancelAsked = true;
      refresh();
    });
    stream.addEventListener("end", () => { stream.close(); refresh(); });
  }

  function initRunPage() {
    const initial = readJson("run-data");
    if (!initial) return;
    const state = { run: initial, reason: "", cancelAsked: !!initial.cancel_requested, loss: new Map(), timer: null, drawing: 0 };
    const path = "/v1/runs/" + encodeURIComponent(initial.id);
    async function poll() {
      clearTimeout(state.timer);
      try { state.run = await api("GET", path); render(state); } catch (e) { /* the server may be restarting */ }
      if (!TERMINAL.has(state.run.status)) state.timer = setTimeout(poll, POLL_MS);
    }
    const cancel = $("#run-cancel");
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        state.run = await api("POST", path + "/cancel");
        state.cancelAsked = true;
        render(state);
      } catch (e) { $("#run-cancel-note").textContent = "Could not cancel: " + e.message; }
      cancel.disabled = false;
    });
    render(state);
    follow(state, poll);
    if (!TERMINAL.has(initial.status)) state.timer = setTimeout(poll, 500);
  }

  window.tunecast.pages["run"] = initRunPage;
})();
