/* tunecast web UI: the calibration plot. Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, $$, readJson, isNum, fmt, el, svg, modelId, methodName, methodColors, linearScale, drawAxes, placeTooltip } = window.tunecast;

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

  window.tunecast.pages["calibration"] = initCalibrationPage;
})();
