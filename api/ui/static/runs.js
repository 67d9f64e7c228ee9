/* tunecast web UI: the runs list (filters are a plain GET form; this script draws the rows and keeps
   queued and running ones live). Shared helpers come from app.js (window.tunecast). */
(function () {
  "use strict";
  const { $, TERMINAL, readJson, isNum, fmt, api, el, candidateLabel, runStateText } = window.tunecast;
  const REFRESH_MS = 3000;

  function tookSeconds(run) {
    if (!run.started_at) return NaN;
    const end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
    return (end - Date.parse(run.started_at)) / 1000;
  }

  function row(run, tbody) {
    const tr = el("tr", { id: "run-row-" + run.id, "data-status": run.status }, tbody);
    const idCell = el("td", {}, tr);
    el("a", { href: "/runs/" + encodeURIComponent(run.id), title: "Run " + run.id }, el("code", {}, idCell), run.id.slice(0, 8));
    const state = el("td", { class: "run-state" }, tr);
    el("span", { class: "badge status-" + run.status }, state, run.status);
    const words = runStateText(run);
    if (words !== run.status) el("span", { class: "small muted state-words" }, state, " " + words.replace(/^failed: /, ""));
    el("td", {}, tr, String(run.kind || "—").replace(/_/g, " "));
    // the API's label (api/candidates.py, the one definition: its plan row's too), else the shared helper's
    el("td", { class: "run-label" }, tr, typeof run.label === "string" ? run.label : candidateLabel(run.candidate));
    el("td", {}, tr, run.task ? run.task.slice(0, 8) : "—");
    const planCell = el("td", {}, tr);
    if (run.plan) el("a", { href: "/plans/" + encodeURIComponent(run.plan) }, planCell, run.plan.slice(0, 8));
    else planCell.textContent = "—";
    const measured = run.result && run.result.accuracy;
    el("td", { class: "num" }, tr, isNum(measured) ? fmt.pct(measured) : "—");
    el("td", { class: "num" }, tr, fmt.duration(tookSeconds(run)));
    el("td", {}, tr, fmt.time(run.created_at));
  }

  function render(page) {
    const items = (page && page.items) || [];
    const tbody = $("#runs tbody");
    tbody.textContent = "";
    items.forEach((run) => row(run, tbody));
    $("#runs").hidden = !items.length;
    $("#runs-empty").hidden = items.length > 0;
    const total = isNum(page && page.total) ? page.total : items.length;
    const offset = isNum(page && page.offset) ? page.offset : 0;
    const range = (offset + 1) + "–" + (offset + items.length);
    $("#runs-count").textContent = total + " run" + (total === 1 ? "" : "s") + (total > items.length ? ", " + range + " shown" : "") + ".";
    return items.some((run) => !TERMINAL.has(run.status));
  }

  function initRunsPage() {
    // the page's filters, size and offset, as the server asked for them (api/ui/paging.py)
    const query = new URLSearchParams(readJson("runs-query") || {});
    async function refresh() {
      try {
        if (!render(await api("GET", "/v1/runs?" + query.toString()))) return;
      } catch (e) { /* keep the rows shown; try again */ }
      setTimeout(refresh, REFRESH_MS);
    }
    if ($("#runs-problem")) { $("#runs-empty").hidden = true; return; }
    if (render(readJson("runs-data"))) setTimeout(refresh, REFRESH_MS);
  }

  window.tunecast.pages["runs"] = initRunsPage;
})();
