// kinetic dashboard: batches and workflows (routes #/batches, #/batch/ID, #/workflows,
// #/workflow/ID). Plain JavaScript, no build step; it speaks kinetic/cli/dashboard_groups.py's
// API and uses app.js's helpers (api, el, seconds, timer). The workflow's graph is drawn here
// as SVG: each job in the column of its longest chain of dependencies, edges from depends_on.
"use strict";

const groupPage = { batches: 0, workflows: 0, items: 0 };
const GROUP_LIMIT = 20, ITEM_LIMIT = 50;

function countsText(counts) {
  const parts = Object.entries(counts || {}).map(([s, n]) => `${s.toLowerCase()} ${n}`);
  return parts.length ? parts.join(" · ") : "-";
}

function pagerButtons(key, limit, reload) {
  return [el("button", { id: "prev", onclick: () => { groupPage[key] = Math.max(0, groupPage[key] - limit); reload(); } }, "‹ prev"),
    el("button", { id: "next", onclick: () => { groupPage[key] += limit; reload(); } }, "next ›"),
    el("span", { id: "pager" })];
}

function showPager(page, length, noun) {
  const shown = length ? `${page.offset + 1}-${page.offset + length}` : "0";
  const pager = document.getElementById("pager");
  if (pager) pager.textContent = `${noun} ${shown} of ${page.total}`;
}

function failed(e) { const s = document.getElementById("said"); if (s) s.textContent = "error: " + e.message; }

function groupAct(kind, id, verb, reload) {
  const label = verb === "retry" && kind === "batches" ? "retry the failed items of" : verb;
  if (!confirm(`${label} ${id}?`)) return;
  api(`api/${kind}/${encodeURIComponent(id)}/${verb}`, { method: "POST" }).then((r) => {
    const said = document.getElementById("said");
    if (said) said.textContent = verb === "retry" && r.retried ? ` retried ${r.retried.length} item(s)` : ` ${verb} requested`;
    reload();
  }).catch(failed);
}

// -- batches ----------------------------------------------------------------------------------
function batchesView() {
  const view = document.getElementById("view");
  view.replaceChildren(el("h2", {}, "Batches"), el("div", { class: "filters" }, ...pagerButtons("batches", GROUP_LIMIT, loadBatches)),
    el("p", { id: "said" }), el("table", { id: "batches" }));
  loadBatches();
  timer = setInterval(loadBatches, REFRESH_MS);
}

function loadBatches() {
  api(`api/batches?offset=${groupPage.batches}&limit=${GROUP_LIMIT}`).then((page) => {
    const table = document.getElementById("batches");
    if (!table) return;
    groupPage.batches = page.offset;
    table.replaceChildren(el("tr", {}, el("th", {}, "batch"), el("th", {}, "function"), el("th", {}, "items"),
      el("th", {}, "counts"), el("th", {}, "created")),
      ...page.batches.map((b) => el("tr", { "data-batch": b.batch_id },
        el("td", {}, el("a", { href: "#/batch/" + b.batch_id }, b.batch_id)), el("td", {}, b.function),
        el("td", {}, String(b.count)), el("td", {}, countsText(b.counts)), el("td", {}, b.created))));
    showPager(page, page.batches.length, "batches");
  }).catch(failed);
}

function batchView(id) {
  const view = document.getElementById("view");
  groupPage.items = 0;
  const reload = () => loadBatch(id);
  view.replaceChildren(el("h2", {}, "Batch " + id),
    el("div", {}, el("button", { id: "cancel", onclick: () => groupAct("batches", id, "cancel", reload) }, "Cancel"),
      el("button", { id: "retry", onclick: () => groupAct("batches", id, "retry", reload) }, "Retry failed"),
      el("a", { id: "batch-jobs", href: "#/?batch=" + encodeURIComponent(id) }, "in the job list"), el("span", { id: "said" })),
    el("p", { id: "batch-info" }), el("p", { id: "counts" }),
    el("div", { class: "filters" }, ...pagerButtons("items", ITEM_LIMIT, reload)), el("table", { id: "items" }));
  reload();
  timer = setInterval(reload, REFRESH_MS);
}

function loadBatch(id) {
  api(`api/batches/${encodeURIComponent(id)}?offset=${groupPage.items}&limit=${ITEM_LIMIT}`).then((b) => {
    const table = document.getElementById("items");
    if (!table) return;
    document.getElementById("batch-info").textContent = `${b.function} · ${b.count} items · ${b.backend} · created ${b.created}`;
    document.getElementById("counts").textContent = countsText(b.counts);
    document.getElementById("retry").hidden = !b.can_retry;
    const ended = Object.keys(b.counts).every((s) => ["SUCCEEDED", "FAILED", "CANCELLED", "NOT_FOUND"].includes(s));
    document.getElementById("cancel").disabled = ended;
    document.getElementById("retry").disabled = !(b.counts.FAILED || b.counts.CANCELLED);
    table.replaceChildren(el("tr", {}, el("th", {}, "item"), el("th", {}, "job"), el("th", {}, "status"),
      el("th", {}, "reason"), el("th", {}, "attempts"), el("th", {}, "duration")),
      ...b.items.map((i) => el("tr", { "data-item": String(i.index) }, el("td", {}, String(i.index)),
        el("td", {}, el("a", { href: "#/job/" + i.job_id }, i.job_id)), el("td", { class: i.status }, i.status),
        el("td", { title: i.message || "" }, i.reason || "-"), el("td", {}, String(i.attempts || "-")),
        el("td", {}, seconds(i.duration)))));
    showPager(b, b.items.length, "items");
  }).catch(failed);
}

// -- workflows --------------------------------------------------------------------------------
function workflowsView() {
  const view = document.getElementById("view");
  view.replaceChildren(el("h2", {}, "Workflows"), el("div", { class: "filters" }, ...pagerButtons("workflows", GROUP_LIMIT, loadWorkflows)),
    el("p", { id: "said" }), el("table", { id: "workflows" }));
  loadWorkflows();
  timer = setInterval(loadWorkflows, REFRESH_MS);
}

function loadWorkflows() {
  api(`api/workflows?offset=${groupPage.workflows}&limit=${GROUP_LIMIT}`).then((page) => {
    const table = document.getElementById("workflows");
    if (!table) return;
    groupPage.workflows = page.offset;
    table.replaceChildren(el("tr", {}, el("th", {}, "workflow"), el("th", {}, "name"), el("th", {}, "phase"),
      el("th", {}, "jobs"), el("th", {}, "counts"), el("th", {}, "created")),
      ...page.workflows.map((w) => el("tr", { "data-workflow": w.workflow_id },
        el("td", {}, el("a", { href: "#/workflow/" + w.workflow_id }, w.workflow_id)), el("td", {}, w.name),
        el("td", { class: w.phase }, w.phase), el("td", {}, String(w.jobs)), el("td", {}, countsText(w.counts)),
        el("td", {}, w.created))));
    showPager(page, page.workflows.length, "workflows");
  }).catch(failed);
}

function workflowView(id) {
  const view = document.getElementById("view");
  const reload = () => loadWorkflow(id);
  view.replaceChildren(el("h2", {}, "Workflow " + id),
    el("div", {}, el("button", { id: "cancel", onclick: () => groupAct("workflows", id, "cancel", reload) }, "Cancel"),
      el("button", { id: "retry", onclick: () => groupAct("workflows", id, "retry", reload) }, "Retry"),
      el("a", { id: "workflow-jobs", href: "#/?workflow=" + encodeURIComponent(id) }, "in the job list"), el("span", { id: "said" })),
    el("p", {}, "phase ", el("span", { id: "phase" })), el("p", { id: "counts" }),
    el("div", { id: "graph" }), el("table", { id: "nodes" }));
  reload();
  timer = setInterval(reload, REFRESH_MS);
}

function loadWorkflow(id) {
  api(`api/workflows/${encodeURIComponent(id)}`).then((w) => {
    const table = document.getElementById("nodes");
    if (!table) return;
    const phase = document.getElementById("phase");
    phase.textContent = w.phase;
    phase.className = w.phase;
    document.getElementById("counts").textContent = countsText(w.counts);
    const ended = ["SUCCEEDED", "FAILED", "CANCELLED", "NOT_FOUND"].includes(w.phase);
    document.getElementById("cancel").disabled = ended;
    document.getElementById("retry").disabled = !ended || w.phase === "SUCCEEDED";
    table.replaceChildren(el("tr", {}, el("th", {}, "job"), el("th", {}, "id"), el("th", {}, "status"),
      el("th", {}, "reason"), el("th", {}, "duration")),
      ...w.nodes.map((n) => el("tr", { "data-node": n.name }, el("td", {}, n.name),
        el("td", {}, el("a", { href: "#/job/" + n.job_id }, n.job_id)), el("td", { class: n.status }, n.status),
        el("td", { title: n.message || "" }, n.reason || "-"), el("td", {}, seconds(n.duration)))));
    document.getElementById("graph").replaceChildren(drawGraph(w.nodes, w.edges));
  }).catch(failed);
}

// The layout: a job's column is the length of its longest chain of dependencies; within a
// column, jobs keep the workflow's order. Nodes are links to the jobs' pages.
function layers(nodes, edges) {
  const deps = new Map(nodes.map((n) => [n.name, []]));
  for (const [from, to] of edges) if (deps.has(to)) deps.get(to).push(from);
  const column = new Map();
  const place = (name, seen) => {
    if (column.has(name)) return column.get(name);
    if (seen.has(name)) return 0; // a cycle cannot be recorded; never loop on one
    seen.add(name);
    const c = Math.max(-1, ...deps.get(name).filter((d) => deps.has(d)).map((d) => place(d, seen))) + 1;
    column.set(name, c);
    return c;
  };
  nodes.forEach((n) => place(n.name, new Set()));
  return column;
}

function drawGraph(nodes, edges) {
  const SVG = "http://www.w3.org/2000/svg", W = 150, H = 44, GAP_X = 60, GAP_Y = 20;
  const svgEl = (tag, attrs, ...kids) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const k of kids) node.append(k instanceof Node ? k : document.createTextNode(k));
    return node;
  };
  const column = layers(nodes, edges), rows = new Map(), where = new Map();
  for (const n of nodes) {
    const c = column.get(n.name), r = rows.get(c) || 0;
    rows.set(c, r + 1);
    where.set(n.name, { x: 10 + c * (W + GAP_X), y: 10 + r * (H + GAP_Y) });
  }
  const width = 20 + (Math.max(0, ...column.values()) + 1) * (W + GAP_X);
  const height = 20 + Math.max(1, ...rows.values()) * (H + GAP_Y);
  const svg = svgEl("svg", { id: "dag", width, height, viewBox: `0 0 ${width} ${height}` },
    svgEl("defs", {}, svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto" },
      svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: "#57606a" }))));
  for (const [from, to] of edges) {
    const a = where.get(from), b = where.get(to);
    if (!a || !b) continue;
    svg.append(svgEl("line", { class: "edge", "data-from": from, "data-to": to, x1: a.x + W, y1: a.y + H / 2,
      x2: b.x, y2: b.y + H / 2, stroke: "#57606a", "marker-end": "url(#arrow)" }));
  }
  for (const n of nodes) {
    const p = where.get(n.name);
    svg.append(svgEl("a", { href: "#/job/" + n.job_id },
      svgEl("g", { class: "node " + n.status, "data-node": n.name, "data-status": n.status },
        svgEl("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6, fill: "#fff", stroke: "currentColor", "stroke-width": 2 }),
        svgEl("text", { x: p.x + 8, y: p.y + 18, fill: "#1f2328" }, n.name),
        svgEl("text", { x: p.x + 8, y: p.y + 35, fill: "currentColor", "font-size": "12" }, n.status))));
  }
  return svg;
}
