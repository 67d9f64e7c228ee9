/* tunecast web UI: the run page (live progress). Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, TERMINAL, readJson, isNum, fmt, api, el } = window.tunecast;

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

  window.tunecast.pages["run"] = initRunPage;
})();
