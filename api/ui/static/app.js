/* tunecast web UI: the new-plan form, the plan page (live budget, SVG chart, sortable table, verify),
   the run page (live progress) and the calibration plot. Vanilla JS, no dependencies, no network
   beyond this server's own /v1 API. */
(function () {
  "use strict";

  // ---------- small helpers ----------
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const SVGNS = "http://www.w3.org/2000/svg";
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const PALETTE = ["#1d4ed8", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777",
    "#65a30d", "#92400e", "#4b5563", "#0f766e", "#be123c", "#6d28d9", "#ca8a04", "#0369a1"];

  function readJson(id) {
    const el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);

  const fmt = {
    usd(v) {
      if (!isNum(v)) return "—";
      const a = Math.abs(v);
      if (a >= 1000) return "$" + Math.round(v).toLocaleString("en-US");
      if (a >= 0.1) return "$" + v.toFixed(2);
      if (v === 0) return "$0";
      return "$" + Number(v.toPrecision(2));
    },
    usdShort(v) {
      if (!isNum(v)) return "";
      const a = Math.abs(v);
      if (a >= 1e6) return "$" + Number((v / 1e6).toPrecision(3)) + "M";
      if (a >= 1e3) return "$" + Number((v / 1e3).toPrecision(3)) + "k";
      if (a >= 1) return "$" + Number(v.toPrecision(3));
      return "$" + Number(v.toPrecision(2));
    },
    pct(v, digits) { return isNum(v) ? (100 * v).toFixed(digits === undefined ? 1 : digits) + " %" : "—"; },
    num(v, p) { return isNum(v) ? String(Number(v.toPrecision(p || 3))) : "—"; },
    gib(v) { return isNum(v) ? (v / 2 ** 30).toFixed(1) + " GiB" : "—"; },
  };

  function problemText(body, response) {
    if (body && typeof body.detail === "string") return body.detail;
    return response.status + " " + (response.statusText || "error");
  }

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = new Error(problemText(data, response));
      error.problem = data;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function el(tag, attrs, parent, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function svg(tag, attrs, parent, text) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // ---------- candidates ----------
  const modelId = (c) => (c && c.model && typeof c.model === "object" ? c.model.id || "inline model" : String((c && c.model) || "—"));
  const methodName = (c) => (c && c.method && typeof c.method === "object" ? String(c.method.name || "—") : String((c && c.method) || "—"));
  function methodLabel(c) {
    const m = c && c.method;
    if (!m || typeof m !== "object") return methodName(c);
    let label = String(m.name || "—");
    if (m.rank != null) label += " r" + m.rank;
    if (m.shots != null) label += " shots " + m.shots;
    if (m.layers != null) label += " top " + m.layers;
    return label;
  }
  function hardwareLabel(c) {
    const h = c && c.hardware;
    return h && typeof h === "object" ? (h.count || 1) + "× " + (h.gpu || "?") : "—";
  }
  const candidateLabel = (c) => modelId(c) + " · " + methodLabel(c) + " · " + hardwareLabel(c);
  function totalUsd(row) {
    if (row && isNum(row.total_usd)) return row.total_usd;
    const cost = row && row.cost;
    if (!cost) return NaN;
    if (isNum(cost.total_usd)) return cost.total_usd;
    return isNum(cost.train_usd) ? cost.train_usd : NaN;
  }
  function methodColors(names) {
    const map = new Map();
    Array.from(new Set(names)).sort().forEach((n, i) => map.set(n, PALETTE[i % PALETTE.length]));
    return map;
  }

  // ---------- scales ----------
  function linearScale(d0, d1, r0, r1) {
    const f = (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0);
    f.ticks = (count) => {
      const raw = (d1 - d0) / (count || 5);
      const mag = 10 ** Math.floor(Math.log10(raw));
      const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
      const out = [];
      for (let t = Math.ceil(d0 / step) * step; t <= d1 + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
      return out;
    };
    return f;
  }
  function logScale(d0, d1, r0, r1) {
    const l0 = Math.log10(d0), l1 = Math.log10(d1);
    const f = (v) => r0 + ((Math.log10(v) - l0) / (l1 - l0 || 1)) * (r1 - r0);
    f.ticks = () => {
      let out = [];
      for (let e = Math.floor(l0); e <= Math.ceil(l1); e++) {
        for (const m of [1, 2, 5]) {
          const t = m * 10 ** e;
          if (t >= d0 * 0.999 && t <= d1 * 1.001) out.push(Number(t.toPrecision(6)));
        }
      }
      if (out.length > 9) out = out.filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
      if (out.length < 2) out = linearScale(d0, d1, r0, r1).ticks(4).filter((t) => t > 0);
      return out;
    };
    return f;
  }

  /* Draw axes, grid and labels into an <svg>; returns the plot area. */
  function drawAxes(root, x, y, box, opts) {
    const grid = svg("g", { class: "grid" }, root);
    const axis = svg("g", { class: "axis" }, root);
    for (const t of y.ticks(opts.yTicks || 5)) {
      const py = y(t);
      svg("line", { x1: box.l, x2: box.r, y1: py, y2: py }, grid);
      svg("text", { x: box.l - 6, y: py + 4, "text-anchor": "end" }, axis, opts.yFormat(t));
    }
    for (const t of x.ticks(opts.xTicks || 6)) {
      const px = x(t);
      svg("line", { x1: px, x2: px, y1: box.t, y2: box.b }, grid);
      svg("text", { x: px, y: box.b + 16, "text-anchor": "middle" }, axis, opts.xFormat(t));
    }
    svg("line", { x1: box.l, x2: box.r, y1: box.b, y2: box.b }, axis);
    svg("line", { x1: box.l, x2: box.l, y1: box.t, y2: box.b }, axis);
    svg("text", { x: (box.l + box.r) / 2, y: box.b + 34, "text-anchor": "middle" }, axis, opts.xLabel);
    svg("text", { x: -(box.t + box.b) / 2, y: 12, transform: "rotate(-90)", "text-anchor": "middle" }, axis, opts.yLabel);
  }

  function placeTooltip(tip, container, target) {
    const c = container.getBoundingClientRect();
    const t = target.getBoundingClientRect();
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let left = t.left - c.left + t.width / 2 + 12;
    if (left + w > c.width) left = t.left - c.left - w - 12;
    left = Math.max(0, left);
    let top = t.top - c.top - h / 2;
    top = Math.max(-8, Math.min(top, c.height - h + 8));
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }

  // ---------- tasks and datasets (shared by the form and the verify dialog) ----------
  function taskCreateBody(t) {
    const body = { name: t.name || "task", kind: t.kind || "multiple_choice", stats: {} };
    if (isNum(t.n_choices) && t.n_choices >= 2 && t.kind !== "generation") body.n_choices = t.n_choices;
    if (isNum(t.train_examples)) body.stats.n_train = t.train_examples;
    return body;
  }
  async function uploadDataset(file, taskId) {
    const form = new FormData();
    form.append("file", file, file.name || "dataset.jsonl");
    form.append("task", taskId);
    const response = await fetch("/v1/datasets", { method: "POST", body: form, headers: { Accept: "application/json" } });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = new Error("dataset: " + problemText(data, response));
      error.problem = data;
      throw error;
    }
    return data;
  }

  // ---------- plan page ----------
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
  function initRunPage() {
    const initial = readJson("run-data");
    if (!initial) return;
    const badge = $("#run-status");
    const bar = $("#run-progress");
    const text = $("#run-progress-text");
    const cancel = $("#run-cancel");
    const time = (v) => (typeof v === "string" && v ? v.slice(0, 19).replace("T", " ") : "—");
    let last = null;

    function render(run) {
      const status = String(run.status || "unknown");
      badge.textContent = status;
      badge.className = "badge status-" + status;
      badge.dataset.status = status;
      $("#run-status-text").textContent = status;
      const p = run.progress || {};
      if (isNum(p.total) && p.total > 0) bar.max = p.total;
      if (isNum(p.step)) bar.value = p.step; else if (status === "succeeded") { bar.max = 1; bar.value = 1; } else bar.removeAttribute("value");
      const waiting = run.waiting_for && typeof run.waiting_for.message === "string" ? run.waiting_for.message : "waiting for a worker…";
      let line = isNum(p.step) ? "Step " + p.step + (isNum(p.total) ? " of " + p.total : "") :
        status === "queued" ? "Queued: " + waiting : status === "running" ? "Running…" : "No progress reported.";
      if (isNum(p.loss)) line += " · loss " + fmt.num(p.loss, 4);
      const summary = JSON.stringify([line, status]);
      if (summary !== last) { text.textContent = line; last = summary; }
      $("#run-started").textContent = time(run.started_at);
      $("#run-finished").textContent = time(run.finished_at);
      if (isNum(run.attempts)) $("#run-attempts").textContent = String(run.attempts);
      const hw = run.result && run.result.worker_hardware;
      if (hw && typeof hw === "object") {
        $("#run-hardware").textContent = hw.device === "cuda" ? (hw.count || 1) + "× " + (hw.name || "GPU") + " (GPU)" :
          "CPU" + (hw.name ? " (" + hw.name + ")" : "") + " on " + (hw.hostname || "a worker");
      }
      const error = $("#run-error");
      error.hidden = !run.error;
      error.textContent = run.error || "";
      const result = $("#run-result");
      result.innerHTML = "";
      const res = run.result && typeof run.result === "object" ? run.result : {};
      const entries = Object.entries(res).filter(([, v]) => isNum(v) || typeof v === "string");
      if (entries.length) {
        el("h3", {}, result, "Result");
        const dl = el("dl", { class: "facts" }, result);
        for (const [k, v] of entries) {
          const d = el("div", {}, dl);
          el("dt", {}, d, k.replace(/_/g, " "));
          el("dd", {}, d, isNum(v) ? (k.endsWith("_usd") ? fmt.usd(v) : k.includes("accuracy") ? fmt.pct(v) : fmt.num(v, 4)) : v);
        }
      }
      cancel.hidden = TERMINAL.has(status);
    }

    async function poll() {
      let done = false;
      try {
        const run = await api("GET", "/v1/runs/" + encodeURIComponent(initial.id));
        render(run);
        done = TERMINAL.has(run.status);
      } catch (e) { /* keep polling: the server may be restarting */ }
      if (!done) setTimeout(poll, 1000);
    }
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try { await api("POST", "/v1/runs/" + encodeURIComponent(initial.id) + "/cancel"); } catch (e) { $("#run-error").hidden = false; $("#run-error").textContent = "Could not cancel: " + e.message; }
      cancel.disabled = false;
    });
    render(initial);
    if (!TERMINAL.has(initial.status)) setTimeout(poll, 500);
  }

  // ---------- calibration page ----------
  function calibrationPoints(data) {
    const list = ["pairs", "points", "items", "measurements"].map((k) => data[k]).find(Array.isArray) || [];
    const pick = (...vals) => vals.find(isNum);
    return list.map((p) => {
      const pred = p.predicted && typeof p.predicted === "object" ? p.predicted : p.prediction && typeof p.prediction === "object" ? p.prediction : {};
      const meas = p.measured && typeof p.measured === "object" ? p.measured : p.measurement && typeof p.measurement === "object" ? p.measurement : {};
      return {
        predicted: pick(pred.mean, pred.accuracy_mean, p.predicted_mean, p.predicted_accuracy, typeof p.predicted === "number" ? p.predicted : undefined),
        lower: pick(pred.lower, pred.accuracy_lower, p.predicted_lower, p.lower),
        upper: pick(pred.upper, pred.accuracy_upper, p.predicted_upper, p.upper),
        measured: pick(meas.accuracy, p.measured_accuracy, typeof p.measured === "number" ? p.measured : undefined, p.accuracy),
        tier: String(p.tier || pred.tier || "—"),
        label: [p.model || (p.candidate ? modelId(p.candidate) : ""), p.method || (p.candidate ? methodName(p.candidate) : "")].filter((s) => s && s !== "—").join(" · "),
      };
    }).filter((p) => isNum(p.predicted) && isNum(p.measured));
  }

  const CALIBRATION_COLUMNS = [
    ["n", "Verified", (v) => (isNum(v) ? String(v) : "—")],
    ["accuracy_mae", "Accuracy error (MAE)", (v) => (isNum(v) ? (100 * v).toFixed(1) + " pts" : "—")],
    ["accuracy_bias", "Bias (predicted − measured)", (v) => (isNum(v) ? (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + " pts" : "—")],
    ["interval_coverage", "Interval coverage", (v) => fmt.pct(v, 0)],
    ["peak_memory_relative_error", "Peak memory error", (v) => fmt.pct(v, 0)],
    ["step_time_relative_error", "Step time error", (v) => fmt.pct(v, 0)],
  ];

  function renderCalibrationTable(container, data) {
    const rows = [];
    if (data.overall && typeof data.overall === "object") rows.push({ tier: "all", method: "all", ...data.overall });
    for (const g of Array.isArray(data.groups) ? data.groups : []) rows.push(g);
    if (!rows.length || !rows.some((r) => r.n)) {
      el("p", { class: "muted" }, container, "No prediction has been verified by a finished run yet.");
    }
    const table = el("table", { class: "data" }, container);
    el("caption", { class: "sr-only" }, table, "Prediction error and " + fmt.pct(data.interval_level || 0.9, 0) + " interval coverage by tier and method");
    const head = el("tr", {}, el("thead", {}, table));
    el("th", { scope: "col" }, head, "Tier");
    el("th", { scope: "col" }, head, "Method");
    for (const [, label] of CALIBRATION_COLUMNS) el("th", { scope: "col", class: "num" }, head, label);
    const tbody = el("tbody", {}, table);
    for (const r of rows) {
      const tr = el("tr", {}, tbody);
      el("td", {}, tr, String(r.tier || "—"));
      el("td", {}, tr, String(r.method || "—"));
      for (const [key, , format] of CALIBRATION_COLUMNS) el("td", { class: "num" }, tr, format(r[key]));
    }
  }

  function initCalibrationPage() {
    const data = readJson("calibration-data");
    const box = $("#calibration-chart");
    if (!data || !box) return;
    const points = calibrationPoints(data);
    const colors = methodColors(points.map((p) => p.tier));
    renderCalibrationTable($("#calibration-summary"), data);
    const tip = el("div", { class: "tooltip", role: "tooltip", hidden: "" }, box);

    function render() {
      $$("svg", box).forEach((n) => n.remove());
      $$("p.empty-chart", box).forEach((n) => n.remove());
      box.classList.toggle("is-empty", !points.length);
      if (!points.length) {
        el("p", { class: "muted empty-chart" }, box, "No verified predictions yet: press “Verify” on a plan's candidate to measure one.");
        return;
      }
      const width = Math.max(280, Math.min(560, box.clientWidth || 560));
      const height = width;
      const b = { l: 56, r: width - 14, t: 12, b: height - 44 };
      const vals = points.flatMap((p) => [p.predicted, p.measured, p.lower, p.upper]).filter(isNum);
      const d0 = Math.max(0, Math.min(...vals) - 0.05), d1 = Math.min(1, Math.max(...vals) + 0.05);
      const x = linearScale(d0, d1, b.l, b.r), y = linearScale(d0, d1, b.b, b.t);
      const root = svg("svg", { viewBox: "0 0 " + width + " " + height, width, height, role: "group", "aria-label": "Predicted versus measured accuracy of " + points.length + " runs" });
      box.insertBefore(root, box.firstChild);
      drawAxes(root, x, y, b, { xFormat: (t) => fmt.pct(t, 0), yFormat: (t) => fmt.pct(t, 0), xLabel: "Predicted accuracy", yLabel: "Measured accuracy" });
      svg("line", { class: "diag", x1: x(d0), y1: y(d0), x2: x(d1), y2: y(d1) }, root);
      for (const p of points) {
        const color = colors.get(p.tier) || "#999";
        const g = svg("g", { class: "pt", tabindex: "0", role: "img", "aria-label": (p.label ? p.label + ": " : "") + "predicted " + fmt.pct(p.predicted) + ", measured " + fmt.pct(p.measured) + ", " + p.tier }, root);
        if (isNum(p.lower) && isNum(p.upper)) svg("line", { x1: x(p.lower), x2: x(p.upper), y1: y(p.measured), y2: y(p.measured), stroke: color, "stroke-width": 1.5, opacity: 0.7 }, g);
        svg("circle", { class: "dot", cx: x(p.predicted), cy: y(p.measured), r: 5, fill: color, stroke: "#fff" }, g);
        const show = () => {
          tip.innerHTML = "";
          el("strong", {}, tip, p.label || "run");
          el("div", {}, tip, "Predicted " + fmt.pct(p.predicted) + (isNum(p.lower) ? " (" + fmt.pct(p.lower) + "–" + fmt.pct(p.upper) + ")" : ""));
          el("div", {}, tip, "Measured " + fmt.pct(p.measured) + " · " + p.tier);
          placeTooltip(tip, box, g.querySelector(".dot"));
        };
        g.addEventListener("mouseenter", show); g.addEventListener("focus", show);
        g.addEventListener("mouseleave", () => { tip.hidden = true; }); g.addEventListener("blur", () => { tip.hidden = true; });
      }
    }
    const legend = $("#calibration-legend");
    for (const [name, color] of colors) {
      const li = el("li", {}, legend);
      el("span", { class: "swatch", "aria-hidden": "true" }, li).style.background = color;
      li.append(name);
    }
    render();
    window.addEventListener("resize", () => render());
  }

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (page === "plan") initPlanPage();
    else if (page === "new-plan") initNewPlanForm();
    else if (page === "run") initRunPage();
    else if (page === "calibration") initCalibrationPage();
  });
})();
