/* tunecast web UI, shared part: formatting, the /v1 client, DOM and SVG builders, scales, candidate
   labels. Each page's script (plan.js, new_plan.js, run.js, calibration.js) registers itself in
   tunecast.pages; the page's <body data-page> picks which runs. Vanilla JS, no dependencies, no network
   beyond this server's own /v1 API. */
(function () {
  "use strict";


  // ---------- small helpers ----------
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const SVGNS = "http://www.w3.org/2000/svg";
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  // Okabe & Ito (2008) colour-blind-safe palette (black left out: it is the frontier's and the text's
  // colour); charts draw method by shape as well, so colour is never the only channel.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#999999"];

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
    /* Seconds for people: "0.42 s", "12 s", "3 min 5 s", "2 h 10 min". */
    duration(s) {
      if (!isNum(s)) return "—";
      if (s < 10) return Number(s.toPrecision(2)) + " s";
      if (s < 60) return Math.round(s) + " s";
      if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
      return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
    },
    /* An ISO timestamp (UTC) as "2026-12-01 16:22:05". */
    time(v) { return typeof v === "string" && v ? v.slice(0, 19).replace("T", " ") : "—"; },
    /* A count for people: 1.2 M, 350 k. */
    count(v) {
      if (!isNum(v)) return "—";
      const a = Math.abs(v);
      if (a >= 1e9) return Number((v / 1e9).toPrecision(3)) + " B";
      if (a >= 1e6) return Number((v / 1e6).toPrecision(3)) + " M";
      if (a >= 1e4) return Number((v / 1e3).toPrecision(3)) + " k";
      return String(Math.round(v));
    },
  };

  // ---------- runs (the runs list and the run page) ----------
  const ordinal = (n) => n + (n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] || "th");
  /* Where a run stands, in words: "2nd in the gpu queue", "step 3 of 10", "failed: <reason>". */
  function runStateText(run) {
    const status = String((run && run.status) || "unknown");
    const p = (run && run.progress) || {};
    if (status === "queued") {
      return isNum(run.queue_position) ? ordinal(run.queue_position) + " in the " + run.queue + " queue" : "queued";
    }
    if (status === "running") return isNum(p.step) ? "step " + p.step + (isNum(p.total) ? " of " + p.total : "") : "starting";
    if (status === "failed") return "failed" + (run.error ? ": " + run.error : "");
    return status;
  }

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

  const pages = {};
  window.tunecast = { $, $$, SVGNS, TERMINAL, PALETTE, readJson, isNum, fmt, problemText, api, el, svg, modelId, methodName, methodLabel, hardwareLabel, candidateLabel, totalUsd, methodColors, linearScale, logScale, drawAxes, placeTooltip, taskCreateBody, uploadDataset, runStateText, pages };

  document.addEventListener("DOMContentLoaded", () => {
    const init = pages[document.body.dataset.page];
    if (init) init();
  });
})();
