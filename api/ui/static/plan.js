/* tunecast web UI: the plan page. The budget (live, no request), the decision explained (margin, the
   planner's Monte-Carlo, probes worth buying, COSMOS bands, assumptions), the chart, the sortable table,
   one candidate's memory and time (and the same candidate priced on every GPU kind), permalink, delete and
   verify runs; export is GET /v1/plans/{id}/export. Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, $$, readJson, isNum, fmt, api, el, svg, modelId, methodName, methodLabel, hardwareLabel, candidateLabel, totalUsd, methodColors, linearScale, logScale, drawAxes, placeTooltip, taskCreateBody, uploadDataset, runStateText, TERMINAL } = window.tunecast;

  // ---------- what each number means (one place: the table headers' tooltips and the legend read these) ----------
  const TIER_HELP = {
    prior: "No probe or run of this candidate on this task yet: a learned regressor over the model's capability, size, method and data size. Widest intervals.",
    probe: "Fitted from cheap probes on this task (COSMOS: few-shot ICL shot law, linear probe calibrated by one small fine-tune, fine-tuning data laws).",
    measured: "A real run of this candidate on this task measured it; the interval is the run-to-run spread.",
  };
  const COLUMN_HELP = {
    model: "The base model (catalog id).",
    method: "The adaptation method and its main setting (LoRA rank, ICL shots, top-k layers).",
    hardware: "GPUs the candidate is costed on: count × kind.",
    cost: "The spend of this strategy: adaptation (training) + evaluation on the task's test queries, USD. The budget caps this. Predicted by the cost model: exact parameter counts, a roofline step time times efficiency calibrated on measured runs, the GPU's price per hour.",
    gpuh: "GPU-hours of training (wall-clock × GPUs).",
    mem: "Peak GPU memory per device while training (every term, CUDA context and allocator slack included). ✕ fits: more than the GPU has.",
    acc: "Predicted accuracy on the task (mean of the forecast).",
    interval: "The forecast's central interval (90 % unless the plan asked otherwise): the accuracy is inside it 9 times in 10 if the predictor is calibrated.",
    tier: "Where the accuracy comes from: prior, probe or measured (see the legend).",
    actions: "Details: memory, time and every GPU kind; Verify: queue a real run that checks the prediction.",
  };
  const MEMORY_PARTS = [
    ["weights", "Weights"], ["gradients", "Gradients"], ["optimizer", "Optimizer states"], ["activations", "Activations"],
    ["logits", "Logits (fp32)"], ["kv_cache", "KV cache"], ["overhead", "CUDA context + allocator slack"],
  ];
  const SHAPES = ["circle", "square", "triangle", "diamond", "triangle-down", "plus", "star"];
  const NEAR_TIE_POINTS = 1; // a lead under one accuracy point is a near tie whatever the intervals say
  const BAND_NAMES = ["low", "medium", "high"];

  // ---------- small pure helpers ----------
  const points = (fraction) => (isNum(fraction) ? (100 * fraction).toFixed(1) + " points" : "—");
  const within = (row, limit) => row.fits && isNum(row.usd) && row.usd <= limit * (1 + 1e-12);
  // a row's name: the API's label (api/candidates.py, the one definition), else the shared helper's
  const rowLabel = (row) => (row && typeof row.label === "string" ? row.label : candidateLabel(row.candidate));
  const outcomeKey = (c) => JSON.stringify([c.model, c.method, c.training]); // the same strategy on other hardware

  /* The last step of a served staircase (from_usd rising) that a budget reaches; null below the first. */
  function stepUnder(steps, limit) {
    let found = null;
    for (const step of Array.isArray(steps) ? steps : []) if (step.from_usd <= limit * (1 + 1e-12)) found = step;
    return found;
  }
  /* The pick under a budget: the plan's own staircase (budget_picks: the planner's one budget rule at every budget). */
  function pickUnder(P, limit) {
    const step = stepUnder(P.plan.budget_picks, limit);
    return step && P.byIndex.has(step.index) ? step.index : null;
  }
  /* The best other strategy under the budget (the pick on other hardware is the pick), from the served
     staircase: the step's runner-up when the pick is the step's pick, else the step's pick itself (the best
     under the budget, when the objective chose another). undefined when the plan was stored without it. */
  function runnerUp(P, pick, limit) {
    const step = stepUnder(P.plan.budget_picks, limit);
    if (!step) return null;
    const top = P.byIndex.get(step.index);
    if (top && step.index !== pick.index && outcomeKey(top.candidate) !== outcomeKey(pick.candidate)) return top;
    if (!Array.isArray(step.runners_up)) return undefined;
    const runner = stepUnder(step.runners_up, limit);
    return runner ? P.byIndex.get(runner.index) || null : null;
  }
  /* How close a lead is, in words, against the pick's interval half-width. */
  function closeness(margin, pick, runner) {
    const half = isNum(pick.acc.upper) && isNum(pick.acc.lower) ? (pick.acc.upper - pick.acc.lower) / 2 : NaN;
    if (runner === undefined) return { tag: "runner-up not stored", text: "this version was stored without its runner-up" };
    if (!isNum(margin)) return { tag: "only candidate", text: "no other strategy fits the budget" };
    if (100 * margin < NEAR_TIE_POINTS) return { tag: "near tie", text: "a near tie (under " + NEAR_TIE_POINTS + " point)" };
    if (isNum(half) && margin < half) return { tag: "lead within the uncertainty", text: "a lead smaller than the interval (±" + points(half) + ")" };
    return { tag: "clear lead", text: "a lead wider than the interval" };
  }
  function shapePath(shape, cx, cy, r) {
    const p = (pts) => "M" + pts.map(([x, y]) => (cx + x * r).toFixed(1) + "," + (cy + y * r).toFixed(1)).join("L") + "Z";
    switch (shape) {
      case "square": return p([[-0.85, -0.85], [0.85, -0.85], [0.85, 0.85], [-0.85, 0.85]]);
      case "triangle": return p([[0, -1.15], [1.05, 0.75], [-1.05, 0.75]]);
      case "triangle-down": return p([[0, 1.15], [1.05, -0.75], [-1.05, -0.75]]);
      case "diamond": return p([[0, -1.2], [1.1, 0], [0, 1.2], [-1.1, 0]]);
      case "plus": return p([[-0.35, -1], [0.35, -1], [0.35, -0.35], [1, -0.35], [1, 0.35], [0.35, 0.35], [0.35, 1], [-0.35, 1], [-0.35, 0.35], [-1, 0.35], [-1, -0.35], [-0.35, -0.35]]);
      case "star": return p(Array.from({ length: 10 }, (_, i) => { const a = -Math.PI / 2 + (i * Math.PI) / 5, k = i % 2 ? 0.5 : 1.2; return [k * Math.cos(a), k * Math.sin(a)]; }));
      default: return "M" + (cx - r) + "," + cy + "a" + r + "," + r + " 0 1,0 " + 2 * r + ",0a" + r + "," + r + " 0 1,0 " + -2 * r + ",0Z";
    }
  }
  function methodShapes(names) {
    const map = new Map();
    Array.from(new Set(names)).sort().forEach((n, i) => map.set(n, SHAPES[i % SHAPES.length]));
    return map;
  }
  function marker(parent, shape, color) {
    const icon = svg("svg", { class: "marker", viewBox: "0 0 16 16", width: 14, height: 14, "aria-hidden": "true" }, parent);
    svg("path", { d: shapePath(shape, 8, 8, 5.5), fill: color, stroke: "var(--ink-strong)", "stroke-width": 0.8 }, icon);
    return icon;
  }
  function planRows(plan) {
    return (Array.isArray(plan.candidates) ? plan.candidates : []).map((row, i) => ({
      ...row,
      index: isNum(row.index) ? row.index : i,
      usd: totalUsd(row),
      acc: row.accuracy || {},
      fits: row.fits !== false && !(row.cost && row.cost.fits === false),
    }));
  }

  // ---------- the page ----------
  function initPlanPage() {
    const plan = readJson("plan-data");
    if (!plan) return;
    const P = pageState(plan);
    setupBudget(P);
    P.chart = planChart(P);
    setupLegend(P);
    setupTable(P);
    setupVerify(P);
    followRuns(P);
    setupDetails(P);
    setupShare(P);
    start(P);
  }

  function pageState(plan) {
    const rows = planRows(plan);
    const byIndex = new Map(rows.map((r) => [r.index, r]));
    const names = rows.map((r) => methodName(r.candidate));
    const serverRec = plan.recommendation && isNum(plan.recommendation.index) ? plan.recommendation : null;
    const requested = (plan.request && plan.request.budget && plan.request.budget.max_usd) ?? (plan.budget && plan.budget.max_usd);
    const costs = rows.map((r) => r.usd).filter((v) => isNum(v) && v > 0);
    const fitting = rows.filter((r) => r.fits && isNum(r.usd)).map((r) => r.usd);
    const frontier = (Array.isArray(plan.frontier) ? plan.frontier : [])
      .map((f) => (isNum(f) ? f : f && isNum(f.index) ? f.index : null)).filter((i) => byIndex.has(i));
    return {
      plan, rows, byIndex, serverRec, frontier, frontierSet: new Set(frontier),
      colors: methodColors(names), shapes: methodShapes(names), runKinds: readJson("run-kinds") || {},
      memoryModel: readJson("memory-model"),
      requested: isNum(requested) ? requested : null,
      minCost: costs.length ? Math.min(...costs) : 0.01, maxCost: costs.length ? Math.max(...costs) : 1,
      minFitting: fitting.length ? Math.min(...fitting) : NaN,
      probes: Array.isArray(plan.probes_to_buy) ? plan.probes_to_buy.filter((p) => byIndex.has(p.index)) : [],
      budget: NaN, recIndex: serverRec ? serverRec.index : null, lo: 0, hi: 0, detailsIndex: null, sort: null,
    };
  }

  // ---------- budget: what the chosen strategy may spend (adaptation + evaluation) ----------
  const STEPS = 1000;
  function budgetText(P) { const b = P.budget; return b >= 1000 ? fmt.usd(b) : "$" + (b >= 1 ? b.toFixed(2) : String(b)); }
  const tidy = (usd) => (usd >= 100 ? Math.round(usd) : usd >= 1 ? Math.round(usd * 100) / 100 : Number(usd.toPrecision(3)));
  /* The slider's (and the chart's) range: every cost, the plan's own budget and the typed one, with room. */
  function setRange(P) {
    const budgets = [P.budget, P.requested].filter((v) => isNum(v) && v > 0);
    // room around the costs; a little beyond a budget, so its line sits inside the axis without squeezing the points
    const lo = Math.min(P.minCost / 1.5, ...budgets.map((b) => b / 1.15)), hi = Math.max(P.maxCost * 1.5, ...budgets.map((b) => b * 1.15));
    if (P.lo && lo >= P.lo && hi <= P.hi) return false;
    P.lo = P.lo ? Math.min(P.lo, lo) : lo; // only ever widens: the slider can always go back
    P.hi = P.hi ? Math.max(P.hi, hi) : hi;
    return true;
  }
  const toUsd = (P, v) => 10 ** (Math.log10(P.lo) + (v / STEPS) * (Math.log10(P.hi) - Math.log10(P.lo)));
  const toSlider = (P, usd) => Math.max(0, Math.min(STEPS, Math.round(((Math.log10(Math.max(usd, 1e-12)) - Math.log10(P.lo)) / (Math.log10(P.hi) - Math.log10(P.lo))) * STEPS)));

  function setupBudget(P) {
    const slider = $("#budget-range"), number = $("#budget-usd");
    slider.addEventListener("input", () => {
      P.budget = tidy(toUsd(P, Number(slider.value)));
      number.value = String(P.budget);
      applyBudget(P, false);
    });
    number.addEventListener("input", () => {
      const v = Number(number.value);
      if (number.value === "" || !Number.isFinite(v) || v <= 0) return; // "1e" reads as "": keep the last budget
      P.budget = v;
      if (setRange(P)) P.chart.render();
      slider.value = String(toSlider(P, v));
      applyBudget(P, false);
    });
    const total = P.probes.reduce((s, p) => s + (p.probe && isNum(p.probe.estimated_usd) ? p.probe.estimated_usd : 0), 0);
    const out = $("#probe-total");
    if (out && P.probes.length) {
      out.textContent = "+ " + fmt.usd(total) + " for the " + P.probes.length + " probe" + (P.probes.length > 1 ? "s" : "") +
        " worth buying first (below), outside this budget.";
    }
  }

  function applyBudget(P, fromServer) {
    if (!fromServer) P.recIndex = pickUnder(P, P.budget);
    const n = P.rows.filter((r) => within(r, P.budget)).length;
    $("#budget-fit").textContent = n + " of " + P.rows.length + " candidates cost at most " + budgetText(P) + " and fit in GPU memory.";
    $("#budget-range").setAttribute("aria-valuetext", budgetText(P));
    renderRecommendation(P, fromServer);
    renderDecision(P);
    for (const tr of $$("#candidates tbody tr")) {
      const r = P.byIndex.get(Number(tr.dataset.index));
      tr.classList.toggle("is-rec", !!r && r.index === P.recIndex);
      tr.classList.toggle("off", !!r && isNum(r.usd) && r.usd > P.budget * (1 + 1e-12));
    }
    P.chart.update();
    writeUrl(P);
  }

  function nothingFits(P, box) {
    el("p", { class: "rec-label" }, box, "Nothing fits");
    el("p", { class: "rec-main" }, box, "Nothing fits under " + budgetText(P) + (isNum(P.minFitting) ? "; the cheapest that fits costs " + fmt.usd(P.minFitting) + "." : "; no candidate fits in GPU memory."));
  }

  function renderRecommendation(P, fromServer) {
    const box = $("#recommendation");
    box.innerHTML = "";
    const row = P.recIndex === null ? null : P.byIndex.get(P.recIndex);
    box.dataset.index = row ? String(row.index) : "";
    box.classList.toggle("infeasible", !row);
    if (!row) return nothingFits(P, box);
    const runner = runnerUp(P, row, P.budget);
    const close = closeness(runner ? row.acc.mean - runner.acc.mean : NaN, row, runner);
    el("p", { class: "rec-label" }, box, "Recommended · " + (runner ? points(row.acc.mean - runner.acc.mean) + " ahead, " : "") + close.tag);
    const main = el("p", { class: "rec-main" }, box);
    el("strong", {}, main, modelId(row.candidate));
    const model = modelId(row.candidate);
    const label = rowLabel(row);
    main.append(label.startsWith(model + " · ") ? label.slice(model.length) : " · " + methodLabel(row.candidate) + " · " + hardwareLabel(row.candidate));
    el("p", {}, box, "Predicted accuracy " + fmt.pct(row.acc.mean) + " (90 % interval " + fmt.pct(row.acc.lower) + "–" + fmt.pct(row.acc.upper) + "), spends " + fmt.usd(row.usd));
    const link = el("p", { class: "small" }, box);
    const a = el("a", { href: "#cand-" + row.index }, link, "Show in table");
    a.addEventListener("click", (e) => { e.preventDefault(); focusRow(row.index); });
    const reason = fromServer && P.serverRec ? P.serverRec.reason : "highest predicted accuracy costing at most " + budgetText(P) + " and fitting in GPU memory (ties go to the cheaper)";
    el("p", { class: "muted small" }, box, reason.charAt(0).toUpperCase() + reason.slice(1) + ".");
  }

  // ---------- the decision, explained ----------
  function renderDecision(P) {
    const box = $("#decision-body");
    if (!box) return;
    box.innerHTML = "";
    const pick = P.recIndex === null ? null : P.byIndex.get(P.recIndex);
    if (!pick) { nothingFits(P, el("div", { class: "recommendation infeasible" }, box)); return; }
    const atPlanBudget = P.serverRec && P.serverRec.index === pick.index;
    const dl = el("dl", { class: "facts decision-facts" }, box);
    const fact = (k, v, id) => { const d = el("div", id ? { id } : {}, dl); el("dt", {}, d, k); el("dd", {}, d, v); };
    fact("Pick", rowLabel(pick) + ": " + fmt.pct(pick.acc.mean) + " for " + fmt.usd(pick.usd));
    const runner = runnerUp(P, pick, P.budget);
    const margin = runner ? pick.acc.mean - runner.acc.mean : NaN;
    fact("Margin over the runner-up", runner ? points(margin) + " over " + rowLabel(runner) + " (" + fmt.pct(runner.acc.mean) + "): " + closeness(margin, pick, runner).text : closeness(NaN, pick, runner).text, "decision-margin");
    fact("Chance it is the best", chanceText(P, pick, atPlanBudget), "decision-chance");
    fact("Where its accuracy comes from", (pick.acc.tier || "—") + " tier, " + (pick.acc.predictor || "unknown predictor") + ". " + (TIER_HELP[pick.acc.tier] || ""));
    renderProbes(P, box, atPlanBudget);
    renderBands(P, box);
    renderAssumptions(P, box);
  }

  function chanceText(P, pick, atPlanBudget) {
    if (!atPlanBudget) return "The planner's Monte-Carlo ran for the plan's own pick at " + (P.requested ? fmt.usd(P.requested) : "no budget") + "; re-plan at " + budgetText(P) + " for this one's.";
    const rec = P.serverRec;
    const regret = isNum(rec.expected_regret) ? "; expected regret " + points(rec.expected_regret) : "";
    if (isNum(rec.probability_best)) return fmt.pct(rec.probability_best, 0) + " (the planner's Monte-Carlo over every forecast)" + regret + ".";
    const top = P.probes.reduce((m, p) => (isNum(p.probability_beats_recommendation) && (!m || p.probability_beats_recommendation > m.probability_beats_recommendation) ? p : m), null);
    if (!top) return "No other candidate can plausibly beat it (the planner's Monte-Carlo)" + regret + ".";
    return "At most " + fmt.pct(1 - top.probability_beats_recommendation, 0) + ": in the planner's Monte-Carlo (each interval read as a normal, 2,000 draws) " +
      rowLabel(P.byIndex.get(top.index)) + " beats it in " + fmt.pct(top.probability_beats_recommendation, 0) + " of draws" + regret + ".";
  }

  function renderProbes(P, box, atPlanBudget) {
    el("h3", {}, box, "Probes worth buying");
    if (!P.probes.length) { el("p", { class: "muted small" }, box, "None: no other candidate's uncertainty could change the pick."); return; }
    el("p", { class: "muted small" }, box, "Each settles whether its candidate beats " + (atPlanBudget ? "the pick" : "the plan's own pick") +
      ", cheaply, before a full run. Largest expected gain first; one click queues it.");
    const wrap = el("div", { class: "table-wrap" }, box);
    const t = el("table", { class: "data probes", id: "probes" }, wrap);
    const hr = el("tr", {}, el("thead", {}, t));
    for (const [h, cls] of [["Candidate", ""], ["Would settle", "wide-only"], ["Probe", "wide-only"], ["Price", "num"], ["", ""]]) el("th", { scope: "col", class: cls }, hr, h);
    const tb = el("tbody", {}, t);
    P.probes.forEach((p, k) => {
      const r = P.byIndex.get(p.index), probe = p.probe || {};
      const tr = el("tr", { "data-index": p.index }, tb);
      el("td", {}, tr, rowLabel(r));
      el("td", { class: "wrap wide-only" }, tr, "Whether it beats the pick: " + fmt.pct(p.probability_beats_recommendation, 0) + " chance it does; expected gain " + points(p.expected_accuracy_gain));
      el("td", { class: "wrap wide-only" }, tr, (probe.kind || "probe").replace(/_/g, " ") + (isNum(probe.data_fraction) ? " on " + fmt.pct(probe.data_fraction, 0) + " of the data" : "") +
        (Array.isArray(probe.shots) ? " at " + probe.shots.join(", ") + " shots" : "") + (probe.why ? ": " + probe.why : ""));
      el("td", { class: "num" }, tr, fmt.usd(probe.estimated_usd));
      const cell = el("div", { class: "verify-cell" }, el("td", {}, tr)); // a flex td would break the row's border
      const b = el("button", { type: "button", class: "small queue-probe", "data-index": p.index, "data-probe": k, "aria-describedby": "probe-" + k + "-status" }, cell, "Queue probe");
      el("span", { id: "probe-" + k + "-status", class: "verify-status", "aria-live": "polite" }, cell);
      b.addEventListener("click", () => P.openVerify(b, p));
    });
  }

  function renderBands(P, box) {
    const bands = P.plan.bands && typeof P.plan.bands === "object" ? P.plan.bands : {};
    const named = BAND_NAMES.filter((n) => bands[n] && P.byIndex.has(bands[n].index));
    if (!named.length) return;
    el("h3", {}, box, "COSMOS budget bands");
    el("p", { class: "muted small" }, box, "The cost range cut into three equal bands, and the most accurate candidate in each (COSMOS, Wang et al. 2025, Sec. 3): what a little more or less money buys.");
    const ul = el("ul", { class: "bands", id: "bands" }, box);
    for (const n of named) {
      const r = P.byIndex.get(bands[n].index);
      const li = el("li", { "data-band": n }, ul);
      el("strong", {}, li, n.charAt(0).toUpperCase() + n.slice(1) + ": ");
      li.append(rowLabel(r) + ", " + fmt.pct(r.acc.mean) + " for " + fmt.usd(r.usd) + (r.index === P.recIndex ? " (the pick)" : ""));
    }
  }

  function renderAssumptions(P, box) {
    const counts = new Map();
    for (const r of P.rows) for (const a of (r.cost && r.cost.assumptions) || []) counts.set(a, (counts.get(a) || 0) + 1);
    const req = P.plan.request || {};
    const level = isNum(req.interval) ? req.interval : 0.9;
    const details = el("details", { class: "assumptions", id: "assumptions" }, box);
    el("summary", {}, details, "Assumptions (" + (counts.size + 2) + ")");
    const ul = el("ul", { class: "small" }, details);
    el("li", {}, ul, "Intervals are central " + fmt.pct(level, 0) + " intervals; the planner reads each as a normal distribution, independent across strategies.");
    el("li", {}, ul, "Costs are on-demand GPU prices (GET /v1/hardware) times predicted time; a budget caps one strategy's adaptation + evaluation, not the probes.");
    for (const [text, n] of counts) el("li", {}, ul, text + (n < P.rows.length ? " (" + n + " of " + P.rows.length + " candidates)" : ""));
  }

  // ---------- chart ----------
  function planChart(P) {
    const box0 = $("#chart"), tip = $("#chart-tooltip");
    if (tip && box0) box0.appendChild(tip);
    let state = null, renderedWidth = 0;
    const resized = () => Boolean(box0) && Math.max(300, box0.clientWidth || 800) !== renderedWidth;
    function render() {
      if (!box0) return;
      const width = Math.max(300, box0.clientWidth || 800);
      renderedWidth = width;
      const active = document.activeElement;
      const focused = active && active.closest && box0.contains(active) && active.closest(".pt") ? Number(active.closest(".pt").dataset.index) : null;
      const height = Math.round(Math.max(260, Math.min(440, width * 0.5)));
      const narrow = width < 520;
      const box = { l: narrow ? 50 : 60, r: width - 14, t: 12, b: height - 44 };
      $$("svg.plot", box0).forEach((n) => n.remove());
      const root = svg("svg", { class: "plot", viewBox: "0 0 " + width + " " + height, width, height, role: "group", "aria-label": "Cost versus predicted accuracy of " + P.rows.length + " candidates" });
      box0.insertBefore(root, box0.firstChild);
      const plotted = P.rows.filter((r) => isNum(r.usd) && isNum(r.acc.mean));
      const x = logScale(P.lo, P.hi, box.l, box.r);
      const y = accuracyScale(plotted, box);
      drawAxes(root, x, y, box, { xFormat: fmt.usdShort, yFormat: y.format, xLabel: "Spend of the strategy, USD (log scale)", yLabel: "Predicted accuracy", xTicks: narrow ? 4 : 7 });
      const shade = svg("rect", { class: "over-budget", y: box.t, height: box.b - box.t }, root);
      const line = svg("line", { class: "budget-line", y1: box.t, y2: box.b }, root);
      const label = svg("text", { class: "budget-label", y: box.t + 12 }, root);
      const xv = (r) => Math.max(r.usd, P.lo);
      const fr = P.frontier.map((i) => P.byIndex.get(i)).filter((r) => r && isNum(r.usd) && isNum(r.acc.mean)).sort((a, b) => a.usd - b.usd);
      if (fr.length > 1) svg("polyline", { class: "frontier", points: fr.map((r) => x(xv(r)).toFixed(1) + "," + y(r.acc.mean).toFixed(1)).join(" ") }, root);
      const layer = svg("g", { class: "points" }, root);
      const pts = new Map(), hits = [];
      for (const r of plotted) {
        const px = x(xv(r)), py = y(r.acc.mean);
        const g = drawPoint(P, layer, r, px, py, y);
        pts.set(r.index, g);
        hits.push({ r, g, px, py });
      }
      root.appendChild(label); // above the points, never in the pointer's way
      pointerHover(root, hits, width);
      state = { x, box, shade, line, label, pts };
      update();
      if (focused !== null && pts.has(focused)) pts.get(focused).focus({ preventScroll: true });
    }
    /* Overlapping points: the pointer picks the nearest, and the tooltip lists every point under it. */
    function pointerHover(root, hits, width) {
      const scale = () => width / (root.getBoundingClientRect().width || width);
      root.addEventListener("pointermove", (e) => {
        const b = root.getBoundingClientRect(), k = scale();
        const mx = (e.clientX - b.left) * k, my = (e.clientY - b.top) * k;
        let best = null, bestD = 14;
        for (const h of hits) { const d = Math.hypot(h.px - mx, h.py - my); if (d < bestD) { best = h; bestD = d; } }
        if (!best) { hideTip(); return; }
        const here = hits.filter((h) => h !== best && Math.hypot(h.px - best.px, h.py - best.py) < 6).map((h) => h.r);
        showTip(P, best.r, best.g, here);
      });
      root.addEventListener("pointerleave", hideTip);
    }
    function update() {
      if (!state) return;
      const { x, box, shade, line, label, pts } = state;
      const bx = Math.max(box.l, Math.min(box.r, x(Math.max(P.budget, P.lo))));
      shade.setAttribute("x", bx);
      shade.setAttribute("width", Math.max(0, box.r - bx));
      line.setAttribute("x1", bx); line.setAttribute("x2", bx);
      const leftRoom = bx - box.l > 100;
      label.setAttribute("x", leftRoom ? bx - 4 : bx + 4);
      label.setAttribute("text-anchor", leftRoom ? "end" : "start");
      label.textContent = "budget " + budgetText(P);
      for (const [i, g] of pts) {
        const r = P.byIndex.get(i);
        g.classList.toggle("off", r.usd > P.budget * (1 + 1e-12));
        g.classList.toggle("rec", i === P.recIndex);
        if (i === P.recIndex && g.parentNode.lastChild !== g) { // on top, keeping keyboard focus on it
          const had = document.activeElement === g;
          g.parentNode.appendChild(g);
          if (had) g.focus({ preventScroll: true });
        }
      }
    }
    function showTip(Pp, r, target, here) {
      if (!tip) return;
      const c = r.cost || {};
      tip.innerHTML = "";
      el("strong", {}, tip, rowLabel(r));
      el("div", {}, tip, "Accuracy " + fmt.pct(r.acc.mean) + " (" + fmt.pct(r.acc.lower) + "–" + fmt.pct(r.acc.upper) + ")" + (r.acc.tier ? ", " + r.acc.tier : ""));
      const table = el("table", {}, tip);
      const line = (k, v) => { const tr = el("tr", {}, table); el("td", {}, tr, k); el("td", {}, tr, v); };
      line("Total", fmt.usd(r.usd));
      if (isNum(c.train_usd)) line("Training", fmt.usd(c.train_usd));
      if (isNum(c.eval_usd)) line("Evaluation", fmt.usd(c.eval_usd));
      if (isNum(c.train_gpu_hours)) line("GPU-hours", fmt.num(c.train_gpu_hours));
      if (isNum(c.peak_memory_bytes)) line("Peak memory", fmt.gib(c.peak_memory_bytes) + (c.fits === false ? " (does not fit)" : ""));
      const wall = wallClockS(c, r.candidate.hardware);
      if (isNum(wall)) line("Wall-clock", fmt.duration ? fmt.duration(wall) : fmt.num(wall) + " s");
      if (here && here.length) {
        el("div", { class: "also" }, tip, "Also here: " + here.map((o) => rowLabel(o) + " (" + fmt.pct(o.acc.mean) + ", " + fmt.usd(o.usd) + ")").join("; "));
      }
      placeTooltip(tip, box0, target.querySelector(".dot") || target);
    }
    function hideTip() { if (tip) tip.hidden = true; }
    P.showTip = showTip;
    P.hideTip = hideTip;
    return { render, update, resized, hideTip };
  }

  function accuracyScale(plotted, box) {
    let y0 = Math.min(...plotted.map((r) => (isNum(r.acc.lower) ? r.acc.lower : r.acc.mean)));
    let y1 = Math.max(...plotted.map((r) => (isNum(r.acc.upper) ? r.acc.upper : r.acc.mean)));
    if (!plotted.length) { y0 = 0; y1 = 1; }
    const pad = Math.max(0.02, (y1 - y0) * 0.08);
    y0 = Math.max(0, y0 - pad); y1 = Math.min(1, y1 + pad);
    const y = linearScale(y0, y1, box.b, box.t);
    y.format = (t) => (100 * t).toFixed(y1 - y0 < 0.1 ? 1 : 0) + "%";
    return y;
  }

  function drawPoint(P, layer, r, px, py, y) {
    const color = P.colors.get(methodName(r.candidate)) || "#999";
    const shape = P.shapes.get(methodName(r.candidate)) || "circle";
    const onFrontier = P.frontierSet.has(r.index);
    const g = svg("g", { class: "pt", tabindex: "0", role: "button", "data-index": r.index, "data-shape": shape,
      "aria-label": rowLabel(r) + ": " + fmt.usd(r.usd) + ", predicted accuracy " + fmt.pct(r.acc.mean) + ", " + (r.acc.tier || "") + " tier" +
        (onFrontier ? ", on the Pareto frontier" : "") + (r.fits ? "" : ", does not fit in GPU memory") }, layer);
    if (isNum(r.acc.lower) && isNum(r.acc.upper)) {
      svg("line", { x1: px, x2: px, y1: y(r.acc.lower), y2: y(r.acc.upper), stroke: color, "stroke-width": 1.5, opacity: 0.75 }, g);
      for (const v of [r.acc.lower, r.acc.upper]) svg("line", { x1: px - 3, x2: px + 3, y1: y(v), y2: y(v), stroke: color, "stroke-width": 1.5, opacity: 0.75 }, g);
    }
    svg("circle", { class: "halo", cx: px, cy: py, r: 11, fill: "none", "stroke-width": 2 }, g);
    svg("path", { class: "dot", d: shapePath(shape, px, py, onFrontier ? 6.5 : 5), fill: r.fits ? color : "var(--panel)",
      stroke: onFrontier ? "var(--ink-strong)" : r.fits ? "var(--panel)" : color, "stroke-width": onFrontier || !r.fits ? 1.8 : 1 }, g);
    svg("circle", { cx: px, cy: py, r: 11, fill: "transparent" }, g); // a bigger target
    g.addEventListener("focus", () => P.showTip(P, r, g, []));
    g.addEventListener("blur", () => P.hideTip());
    g.addEventListener("click", () => { focusRow(r.index); showDetails(P, r.index); });
    g.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); focusRow(r.index); showDetails(P, r.index); }
      if (e.key === "Escape") P.hideTip();
    });
    return g;
  }

  function setupLegend(P) {
    const legend = $("#legend");
    if (!legend) return;
    for (const [name, color] of P.colors) {
      const li = el("li", {}, legend);
      marker(li, P.shapes.get(name), color);
      li.append(name);
    }
    const key = (cls, text) => { const li = el("li", {}, legend); el("span", { class: "swatch " + cls, "aria-hidden": "true" }, li); li.append(text); };
    key("line-key", "Pareto frontier");
    key("budget-key", "budget");
    if (P.rows.some((r) => !r.fits)) key("hollow-key", "does not fit in GPU memory");
    // Shapes and colours in the table too: method is never colour alone.
    $$("#candidates .swatch[data-method]").forEach((s) => {
      const name = s.dataset.method;
      const icon = marker(s.parentNode, P.shapes.get(name) || "circle", P.colors.get(name) || "#999");
      s.replaceWith(icon);
    });
    const tiers = $("#tier-legend");
    if (tiers) for (const [t, help] of Object.entries(TIER_HELP)) { const d = el("div", {}, tiers); el("dt", {}, d, t); el("dd", {}, d, help); }
    const cols = $("#column-legend");
    for (const th of $$("#candidates thead th[data-help]")) {
      const help = COLUMN_HELP[th.dataset.help];
      if (!help) continue;
      th.title = help;
      if (cols) { const d = el("div", {}, cols); el("dt", {}, d, th.textContent.trim()); el("dd", {}, d, help); }
    }
    // Every number says where it comes from: the forecast's tier and predictor, the cost model.
    for (const td of $$("#candidates td[data-tier]")) td.title = td.dataset.tier + " tier, " + (td.dataset.predictor || "unknown predictor") + ". " + (TIER_HELP[td.dataset.tier] || "");
    for (const td of $$("#candidates td[data-help=cost]")) td.title = COLUMN_HELP.cost;
  }

  // ---------- sortable table ----------
  function sortBy(P, th, direction) {
    const table = $("#candidates");
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
    P.sort = { key: $("button", th).dataset.key, direction };
  }

  function setupTable(P) {
    const table = $("#candidates");
    if (!table) return;
    // One hardware for every candidate: the column says nothing, so narrow screens drop it.
    table.classList.toggle("same-hw", new Set(P.rows.map((r) => hardwareLabel(r.candidate))).size <= 1);
    for (const button of $$("thead th button", table)) {
      button.addEventListener("click", () => {
        const th = button.closest("th");
        sortBy(P, th, th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
        writeUrl(P);
      });
    }
    const initial = $("th[aria-sort=ascending]", table);
    if (initial) sortBy(P, initial, "ascending");
    P.defaultSort = { ...P.sort };
    $$("button.details", table).forEach((b) => b.addEventListener("click", () => showDetails(P, Number(b.dataset.index), true)));
  }

  function focusRow(index) {
    const tr = document.getElementById("cand-" + index);
    if (!tr) return;
    tr.scrollIntoView({ block: "center", behavior: "smooth" });
    tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash");
    const button = $("button.verify", tr);
    if (button) button.focus({ preventScroll: true });
  }

  // ---------- one candidate: memory, time, every GPU kind ----------
  function wallClockS(cost, hardware) {
    const n = (hardware && hardware.count) || 1;
    const h = (isNum(cost.train_gpu_hours) ? cost.train_gpu_hours : 0) + (isNum(cost.eval_gpu_hours) ? cost.eval_gpu_hours : 0);
    return isNum(cost.train_gpu_hours) || isNum(cost.eval_gpu_hours) ? (h * 3600) / n : NaN;
  }
  const duration = (s) => (fmt.duration ? fmt.duration(s) : fmt.num(s) + " s");

  function setupDetails(P) {
    const button = $("#every-gpu");
    if (button) button.addEventListener("click", () => priceOnEveryGpu(P));
    const form = $("#what-if");
    if (!form) return;
    form.addEventListener("submit", (e) => { e.preventDefault(); whatIf(P); });
    $("#wi-reset").addEventListener("click", () => showDetails(P, P.detailsIndex));
  }

  /* The what-if fields start at the candidate's own training settings. */
  function fillWhatIf(training) {
    if (!$("#what-if")) return;
    $("#wi-batch").value = isNum(training.micro_batch_size) ? String(training.micro_batch_size) : "";
    $("#wi-seq").value = isNum(training.seq_len) ? String(training.seq_len) : "";
    if (training.precision) $("#wi-precision").value = training.precision;
    $("#wi-ckpt").checked = Boolean(training.gradient_checkpointing);
    $("#wi-status").textContent = "";
  }

  async function whatIf(P) {
    const r = P.byIndex.get(P.detailsIndex);
    if (!r) return;
    const training = { ...(r.candidate.training || {}), precision: $("#wi-precision").value, gradient_checkpointing: $("#wi-ckpt").checked };
    for (const [id, key] of [["#wi-batch", "micro_batch_size"], ["#wi-seq", "seq_len"]]) {
      const v = Number($(id).value);
      if ($(id).value !== "" && Number.isInteger(v) && v >= 1) training[key] = v;
    }
    const candidate = { ...r.candidate, training };
    const status = $("#wi-status");
    status.textContent = "Re-pricing…";
    try {
      const answer = await api("POST", "/v1/cost", { candidates: [candidate] });
      const cost = (answer.results || [])[0] || {};
      const row = { ...r, candidate, cost, usd: isNum(cost.total_usd) ? cost.total_usd : NaN };
      memoryChart(P, row, $("#memory-chart"));
      timeFacts(row, $("#time-facts"));
      status.textContent = "What-if: micro batch " + training.micro_batch_size + ", sequence length " + training.seq_len + ", " + training.precision +
        (training.gradient_checkpointing ? ", checkpointing" : "") + ": peak " + fmt.gib(cost.peak_memory_bytes) + ", " + (cost.fits === false ? "does not fit" : "fits") + ", spends " + fmt.usd(row.usd) + " (not in the plan).";
    } catch (e) {
      status.textContent = "Not re-priced: " + e.message;
    }
  }

  function showDetails(P, index, focus) {
    const r = P.byIndex.get(index);
    const section = $("#details");
    if (!r || !section) return;
    P.detailsIndex = index;
    $("#details-title").textContent = rowLabel(r);
    memoryChart(P, r, $("#memory-chart"));
    timeFacts(r, $("#time-facts"));
    fillWhatIf(r.candidate.training || {});
    $("#gpu-table").innerHTML = "";
    $("#every-gpu").hidden = false;
    writeUrl(P);
    if (focus) { section.scrollIntoView({ block: "start", behavior: "smooth" }); $("#details-title").focus({ preventScroll: true }); }
  }

  function usableBytes(P, gpu) {
    const m = P.memoryModel || {};
    const ctx = isNum(m.cuda_context_bytes) ? m.cuda_context_bytes : 0, slack = isNum(m.fragmentation_fraction) ? m.fragmentation_fraction : 0;
    return { ctx, slack, usable: (gpu.memory_bytes - ctx) / (1 + slack) };
  }

  function memoryChart(P, r, box) {
    box.innerHTML = "";
    const c = r.cost || {}, mb = c.memory_breakdown || {};
    const gpu = P.hardware && P.hardware.get((r.candidate.hardware || {}).gpu);
    const memory = gpu && isNum(gpu.memory_bytes) ? gpu.memory_bytes : NaN;
    const parts = MEMORY_PARTS.filter(([k]) => isNum(mb[k]) && mb[k] > 0);
    const total = parts.reduce((s, [k]) => s + mb[k], 0);
    const width = Math.max(300, box.clientWidth || 600), height = 72;
    const max = Math.max(total, isNum(memory) ? memory : 0) * 1.04 || 1;
    const x = (v) => 8 + ((width - 16) * v) / max;
    const root = svg("svg", { class: "memory", viewBox: "0 0 " + width + " " + height, width, height, role: "img",
      "aria-label": "Peak memory " + fmt.gib(total) + (isNum(memory) ? " of " + fmt.gib(memory) : "") }, box);
    let at = 0;
    parts.forEach(([k], i) => {
      svg("rect", { class: "part part-" + i, x: x(at), y: 18, width: Math.max(0.5, x(at + mb[k]) - x(at)), height: 26 }, root);
      at += mb[k];
    });
    if (isNum(memory)) {
      const { usable } = usableBytes(P, gpu);
      svg("line", { class: "usable-line", x1: x(usable), x2: x(usable), y1: 14, y2: 48 }, root);
      svg("text", { class: "usable-label", x: x(usable) - 4, y: 11, "text-anchor": "end" }, root, "usable for tensors " + fmt.gib(usable));
      svg("line", { class: "gpu-line", x1: x(memory), x2: x(memory), y1: 14, y2: 52 }, root);
      svg("text", { class: "gpu-label", x: x(memory) - 4, y: 66, "text-anchor": "end" }, root, (gpu.id || "GPU") + " " + fmt.gib(memory));
    }
    const ul = el("ul", { class: "legend memory-legend" }, box);
    parts.forEach(([k, name], i) => { const li = el("li", {}, ul); el("span", { class: "swatch part-" + i, "aria-hidden": "true" }, li); li.append(name + " " + fmt.gib(mb[k])); });
    el("p", { class: "small", id: "memory-verdict" }, box, memoryVerdict(P, c, gpu, total, r.candidate.training || {}));
  }

  /* Why "79.8 GiB ✕ fits" on an "80 GB" GPU: the card's bytes, then what the allocator can hand out. */
  function memoryVerdict(P, c, gpu, peak, training) {
    if (!gpu || !isNum(gpu.memory_bytes)) return "Peak " + fmt.gib(peak) + ".";
    const { ctx, slack, usable } = usableBytes(P, gpu);
    const allocated = isNum(c.allocated_bytes) ? c.allocated_bytes : peak;
    const verdict = c.fits === false ? "does not fit" : "fits";
    return "Peak " + fmt.gib(peak) + " per GPU: " + verdict + ". The " + gpu.id + " has " + fmt.gib(gpu.memory_bytes) + " (" + fmt.num(gpu.memory_bytes / 1e9) + " GB, as sold); usable for tensors: (" +
      fmt.gib(gpu.memory_bytes) + " − " + fmt.gib(ctx) + " CUDA context) ÷ " + fmt.num(1 + slack) + " allocator slack = " + fmt.gib(usable) + ", against " + fmt.gib(allocated) + " allocated." +
      (isNum(c.max_micro_batch_that_fits) ? " The largest micro batch that fits: " + c.max_micro_batch_that_fits + (isNum(training.micro_batch_size) ? " (it trains at " + training.micro_batch_size + ")." : ".") : "");
  }

  function timeFacts(r, dl) {
    dl.innerHTML = "";
    const c = r.cost || {}, hw = r.candidate.hardware || {};
    const fact = (k, v) => { const d = el("div", {}, dl); el("dt", {}, d, k); el("dd", {}, d, v); };
    if (isNum(c.train_steps) && isNum(c.step_time_s)) fact("Time to train", duration((c.train_gpu_hours * 3600) / (hw.count || 1)) + " (" + c.train_steps + " steps × " + fmt.num(c.step_time_s) + " s)");
    if (isNum(c.eval_gpu_hours)) fact("Evaluation", duration((c.eval_gpu_hours * 3600) / (hw.count || 1)));
    fact("Wall-clock", duration(wallClockS(c, hw)) + " on " + hardwareLabel(r.candidate));
    fact("GPU-hours", fmt.num((c.train_gpu_hours || 0) + (c.eval_gpu_hours || 0)));
    fact("Spend", fmt.usd(r.usd) + " (training " + fmt.usd(c.train_usd) + " + evaluation " + fmt.usd(c.eval_usd) + ")");
    if (c.bound) fact("Bound by", c.bound);
  }

  async function loadHardware(P) {
    if (!P.hardwareList) {
      const page = await api("GET", "/v1/hardware?limit=1000");
      P.hardwareList = Array.isArray(page.items) ? page.items : [];
      P.hardware = new Map(P.hardwareList.map((h) => [h.id, h]));
    }
    return P.hardwareList;
  }

  async function priceOnEveryGpu(P) {
    const r = P.byIndex.get(P.detailsIndex);
    const out = $("#gpu-table");
    if (!r) return;
    out.textContent = "Pricing on every GPU kind…";
    try {
      const kinds = await loadHardware(P);
      const count = (r.candidate.hardware || {}).count || 1;
      const candidates = kinds.map((h) => ({ ...r.candidate, hardware: { ...(r.candidate.hardware || {}), gpu: h.id, count } }));
      const answer = await api("POST", "/v1/cost", { candidates });
      gpuTable(out, r, kinds, answer.results || []);
    } catch (e) {
      out.textContent = "Could not price it: " + e.message;
    }
  }

  function gpuTable(out, r, kinds, results) {
    out.innerHTML = "";
    const t = el("table", { class: "data gpus" }, el("div", { class: "table-wrap" }, out));
    const hr = el("tr", {}, el("thead", {}, t));
    for (const [h, cls] of [["GPU", ""], ["Memory", "num"], ["Peak", "num"], ["Fits", ""], ["Max micro batch", "num"], ["Wall-clock", "num"], ["Spend", "num"]]) el("th", { scope: "col", class: cls }, hr, h);
    const tb = el("tbody", {}, t);
    const cheapest = Math.min(...results.filter((c) => c.fits).map((c) => (isNum(c.total_usd) ? c.total_usd : Infinity)));
    kinds.forEach((h, i) => {
      const c = results[i] || {};
      const tr = el("tr", { "data-gpu": h.id, class: h.id === (r.candidate.hardware || {}).gpu ? "is-rec" : "" }, tb);
      el("td", {}, tr, h.id);
      el("td", { class: "num" }, tr, fmt.gib(h.memory_bytes));
      el("td", { class: "num" }, tr, fmt.gib(c.peak_memory_bytes));
      el("td", {}, tr, c.fits ? "fits" : "✕ does not fit");
      el("td", { class: "num" }, tr, isNum(c.max_micro_batch_that_fits) ? String(c.max_micro_batch_that_fits) : "—");
      el("td", { class: "num" }, tr, duration(wallClockS(c, { count: (r.candidate.hardware || {}).count })));
      el("td", { class: "num" }, tr, fmt.usd(c.total_usd) + (c.fits && c.total_usd === cheapest ? " (cheapest)" : ""));
    });
  }

  // ---------- share: permalink, export, delete ----------
  function writeUrl(P) {
    if (!P.started) return;
    const q = new URLSearchParams();
    if (isNum(P.budget) && P.budget !== P.defaultBudget) q.set("budget", String(P.budget)); // only a budget someone set
    if (P.sort && (P.sort.key !== P.defaultSort.key || P.sort.direction !== P.defaultSort.direction)) q.set("sort", P.sort.key + (P.sort.direction === "descending" ? ":desc" : ""));
    if (P.detailsIndex !== null && P.detailsIndex !== P.serverRec?.index) q.set("candidate", String(P.detailsIndex));
    if (P.plan.version && P.plan.latest_version && P.plan.version !== P.plan.latest_version) q.set("version", String(P.plan.version));
    const url = window.location.pathname + (q.toString() ? "?" + q : "");
    window.history.replaceState(null, "", url);
    const link = $("#permalink");
    if (link) link.href = url;
  }

  function readUrl(P) {
    const q = new URLSearchParams(window.location.search);
    const b = Number(q.get("budget"));
    if (q.get("budget") && Number.isFinite(b) && b > 0) P.budget = b;
    const [key, dir] = (q.get("sort") || "").split(":");
    const button = key ? $("#candidates thead button[data-key='" + CSS.escape(key) + "']") : null;
    if (button) sortBy(P, button.closest("th"), dir === "desc" ? "descending" : "ascending");
    const c = Number(q.get("candidate"));
    return q.get("candidate") !== null && P.byIndex.has(c) ? c : null;
  }

  function setupShare(P) {
    const dialog = $("#delete-dialog");
    const open = $("#delete-plan");
    if (!dialog || !open) return;
    open.addEventListener("click", () => dialog.showModal());
    $("#delete-keep").addEventListener("click", () => { dialog.close(); open.focus(); });
    $("#delete-confirm").addEventListener("click", async () => {
      try {
        await api("DELETE", "/v1/plans/" + encodeURIComponent(P.plan.id));
        window.location.assign("/?deleted=" + encodeURIComponent(P.plan.id));
      } catch (e) {
        const err = $("#delete-error");
        err.textContent = "Not deleted: " + e.message;
        err.hidden = false;
      }
    });
  }

  // ---------- verify: queue a real run (a check of a prediction, or a probe worth buying) ----------
  function setupVerify(P) {
    const plan = P.plan;
    const dialog = $("#verify-dialog");
    const vForm = $("#verify-form");
    const vErrors = $("#verify-errors");
    const storedTaskKey = "tunecast.planTask." + plan.id;
    const pathKey = (id) => "tunecast.modelPath." + id;
    const store = {
      get(k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
      set(k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* private mode */ } },
    };
    let verifying = null, probing = null, opener = null;
    function planTaskId() {
      const req = plan.request || {};
      if (typeof req.task_id === "string" && req.task_id) return req.task_id;
      if (typeof req.task === "string" && req.task) return req.task;
      return store.get(storedTaskKey);
    }
    function runKind(row, probe) { return (probe && probe.probe && probe.probe.kind) || P.runKinds[methodName(row.candidate)] || "finetune"; }
    function openVerify(button, probe) {
      const row = P.byIndex.get(Number(button.dataset.index));
      if (!row || !dialog) return;
      verifying = row; probing = probe || null; opener = button;
      const kind = runKind(row, probing);
      $("#verify-title").textContent = probing ? "Buy a probe" : "Verify a prediction";
      $("#verify-what").textContent = probing
        ? "A " + kind.replace(/_/g, " ") + " of " + rowLabel(row) + " for about " + fmt.usd(probing.probe.estimated_usd) + ": it settles whether it beats the pick (" + fmt.pct(probing.probability_beats_recommendation, 0) + " chance it does)."
        : (kind === "finetune" ? "A real fine-tune" : "A real ICL probe") + " of " + rowLabel(row) + ", predicted " + fmt.pct(row.acc.mean) + " for " + fmt.usd(row.usd) + ". Its measurement is checked against the prediction.";
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
    P.openVerify = openVerify;
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
    function runCandidate(c, path, probe) {
      // The candidate as planned (same training fields); the worker finds the model by id unless a path is given.
      const model = path ? { id: modelId(c), path } : modelId(c);
      const training = { ...(c.training || {}) };
      if (probe && probe.probe && isNum(probe.probe.data_fraction)) { // the small fine-tune: a fraction of the candidate's own data
        training.data_fraction = (isNum(training.data_fraction) ? training.data_fraction : 1) * probe.probe.data_fraction;
      }
      return { model, method: c.method, training, hardware: c.hardware || null };
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
    function runBody(row, probe, task, path) {
      const kind = runKind(row, probe);
      const body = { kind, candidate: runCandidate(row.candidate, path, probe), task, plan: plan.id };
      const prediction = row.prediction_id || row.prediction;
      if (!probe && typeof prediction === "string" && prediction) body.prediction = prediction; // the run then checks it
      const steps = Number($("#verify-steps").value);
      if (kind === "finetune" && $("#verify-steps").value !== "" && steps >= 1) body.options = { steps };
      return body;
    }
    async function verifySubmit(event) {
      event.preventDefault();
      const row = verifying, probe = probing;
      if (!row) return;
      const path = $("#verify-model-path").value.trim();
      const file = $("#verify-dataset").files[0] || null;
      const submit = $("#verify-submit");
      submit.disabled = true;
      const status = opener && opener.getAttribute("aria-describedby") ? document.getElementById(opener.getAttribute("aria-describedby")) : document.getElementById("cand-" + row.index + "-status");
      try {
        const task = await ensureTask(file);
        const run = await api("POST", "/v1/runs", runBody(row, probe, task, path));
        if (path) store.set(pathKey(modelId(row.candidate)), path);
        status.classList.remove("warn");
        status.textContent = "";
        P.runs.follow(run, status, probe ? "Probe" : "Run");
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
  }

  // ---------- plan rows follow their runs (GET /v1/runs?plan=, polled while any is unfinished) ----------
  const RUN_POLL_MS = 3000;

  function runWords(run) {
    const state = runStateText(run);
    if (run.status === "queued" && state !== "queued") return "queued · " + state;
    if (run.status === "running") return state === "starting" ? state : "running " + state;
    const measured = run.result && run.result.accuracy;
    if (run.status === "succeeded" && isNum(measured)) return "succeeded: measured " + fmt.pct(measured);
    return state;
  }

  function showRun(status, run, noun) {
    status.textContent = "";
    status.classList.toggle("warn", run.status === "failed" || run.status === "cancelled");
    status.dataset.runStatus = run.status;
    el("a", { href: "/runs/" + encodeURIComponent(run.id), class: "run-link" }, status, noun + " " + runWords(run) + " →");
  }

  function followRuns(P) {
    const byPrediction = new Map(P.rows.filter((r) => r.prediction_id).map((r) => [r.prediction_id, r.index]));
    const queuedHere = new Map(); // run id -> [status element, noun]: the runs queued from this page (probes too)
    let timer = null;
    function placeOf(run) {
      if (queuedHere.has(run.id)) return queuedHere.get(run.id);
      const index = byPrediction.get(run.prediction);
      const status = index === undefined ? null : document.getElementById("cand-" + index + "-status");
      return status ? [status, "Run"] : null;
    }
    let polling = false;
    const schedule = () => { if (timer === null && !polling) timer = setTimeout(poll, RUN_POLL_MS); };
    async function poll() {
      timer = null;
      polling = true;
      let runs = [];
      try { runs = (await api("GET", "/v1/runs?plan=" + encodeURIComponent(P.plan.id) + "&limit=100")).items || []; } catch (e) { polling = false; schedule(); return; } // try again later
      polling = false;
      const shown = new Set();
      for (const run of runs) { // newest first: each row shows its latest run
        const place = placeOf(run);
        if (!place || shown.has(place[0])) continue;
        shown.add(place[0]);
        showRun(place[0], run, place[1]);
      }
      if (runs.some((r) => !TERMINAL.has(r.status))) schedule();
    }
    P.runs = {
      follow(run, status, noun) {
        queuedHere.set(run.id, [status, noun]);
        showRun(status, run, noun);
        schedule();
      },
    };
    poll();
  }

  // ---------- start ----------
  function start(P) {
    const fromUrl = readUrl(P);
    const urlBudget = isNum(P.budget);
    P.defaultBudget = P.requested !== null ? P.requested : tidy(P.maxCost * 1.5);
    if (!urlBudget) P.budget = P.defaultBudget;
    setRange(P);
    $("#budget-usd").value = String(P.budget);
    $("#budget-range").value = String(toSlider(P, P.budget));
    P.chart.render();
    applyBudget(P, P.serverRec !== null && !urlBudget);
    P.started = true;
    P.hardware = P.hardware || new Map((readJson("hardware-data") || []).map((h) => [h.id, h]));
    const first = fromUrl !== null ? fromUrl : P.recIndex;
    if (first !== null) showDetails(P, first, false);
    writeUrl(P);
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      // only a new width redraws (a full-page screenshot or a scrollbar fires resize without one)
      resizeTimer = setTimeout(() => { if (P.chart.resized()) { P.chart.hideTip(); P.chart.render(); } }, 120);
    });
  }

  window.tunecast.pages["plan"] = initPlanPage;
})();
