// kinetic dashboard: the page. Plain JavaScript, no build step; it speaks the JSON API
// of kinetic/cli/dashboard_api.py. Routes: #/ (the list; #/?batch=ID or #/?workflow=ID
// keeps one batch's or workflow's jobs) and #/job/ID (one job); groups.js has the batches'
// and workflows' pages.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const REFRESH_MS = 2000;
let info = { can_retry: false };
let timer = null;
let stream = null;
const list = { status: "", name: "", func: "", batch: "", workflow: "", sort: "created", order: "desc", offset: 0, limit: 50 };

function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers["X-Kinetic-Token"] = token;
  if (options.method === "POST") headers["X-Kinetic-Request"] = "1";
  return fetch(path, Object.assign({}, options, { headers })).then(async (r) => {
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  });
}

function withToken(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick" || k === "onchange" || k === "oninput") node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

function bar(progress) {
  const f = progress && typeof progress.fraction === "number" ? progress.fraction : null;
  if (f === null) return "-";
  const inner = el("span");
  inner.style.width = Math.round(Math.min(1, Math.max(0, f)) * 100) + "%";
  return el("span", { class: "progress" }, el("span", { class: "bar" }, inner),
            " " + Math.round(f * 100) + "%");
}

function seconds(value) {
  if (value === null || value === undefined) return "-";
  const t = Math.floor(value), d = Math.floor(t / 86400), h = Math.floor(t % 86400 / 3600);
  const m = Math.floor(t % 3600 / 60), s = t % 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  if (stream) stream.close();
  stream = null;
}

// -- the list ---------------------------------------------------------------------------------
function listView() {
  const view = document.getElementById("view");
  const status = el("select", { id: "status-filter", onchange: (e) => { list.status = e.target.value; list.offset = 0; loadList(); } },
    ...["", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"].map((s) => el("option", { value: s }, s || "every status")));
  status.value = list.status;
  const name = el("input", { id: "name-filter", placeholder: "name or id", value: list.name,
    oninput: (e) => { list.name = e.target.value; list.offset = 0; loadList(); } });
  const func = el("input", { id: "function-filter", placeholder: "function", value: list.func,
    oninput: (e) => { list.func = e.target.value; list.offset = 0; loadList(); } });
  const batch = el("input", { id: "batch-filter", placeholder: "batch", value: list.batch,
    oninput: (e) => { list.batch = e.target.value; list.offset = 0; loadList(); } });
  const workflow = el("input", { id: "workflow-filter", placeholder: "workflow", value: list.workflow,
    onchange: (e) => { list.workflow = e.target.value; list.offset = 0; loadList(); } });
  const pager = el("span", { id: "pager" });
  view.replaceChildren(
    el("div", { class: "filters" }, status, name, func, batch, workflow,
       el("button", { id: "prev", onclick: () => { list.offset = Math.max(0, list.offset - list.limit); loadList(); } }, "‹ newer"),
       el("button", { id: "next", onclick: () => { list.offset += list.limit; loadList(); } }, "older ›"), pager),
    el("p", { id: "counts" }),
    el("table", { id: "jobs" }));
  loadList();
  timer = setInterval(loadList, REFRESH_MS);
}

function header(label, key) {
  if (!key) return el("th", {}, label);
  const mark = list.sort === key ? (list.order === "desc" ? " ▼" : " ▲") : "";
  return el("th", { class: "sortable", "data-sort": key, onclick: () => {
    if (list.sort === key) list.order = list.order === "desc" ? "asc" : "desc";
    else { list.sort = key; list.order = key === "created" ? "desc" : "asc"; }
    loadList();
  } }, label + mark);
}

function loadList() {
  const q = new URLSearchParams({ status: list.status, name: list.name, function: list.func,
    batch: list.batch, workflow: list.workflow, sort: list.sort, order: list.order, offset: list.offset, limit: list.limit });
  api("api/jobs?" + q).then((page) => {
    const table = document.getElementById("jobs");
    if (!table) return;
    list.offset = page.offset;
    const rows = page.jobs.map((j) => el("tr", { "data-job": j.job_id },
      el("td", {}, el("a", { href: "#/job/" + j.job_id }, j.job_id)),
      el("td", {}, j.func_name), el("td", { class: j.status }, j.status), el("td", {}, j.reason || "-"),
      el("td", {}, bar(j.progress)), el("td", {}, String(j.attempts || "-")),
      el("td", {}, j.created), el("td", {}, seconds(j.duration))));
    table.replaceChildren(el("tr", {}, header("id", "name"), header("function", "function"),
      header("status", "status"), header("reason"), header("progress"), header("attempts", "attempts"),
      header("created", "created"), header("duration", "duration")), ...rows);
    const shown = page.jobs.length ? `${page.offset + 1}-${page.offset + page.jobs.length}` : "0";
    document.getElementById("pager").textContent = `jobs ${shown} of ${page.total}`;
    document.getElementById("counts").textContent = Object.entries(page.counts)
      .map(([s, n]) => `${s.toLowerCase()} ${n}`).join(" · ");
  }).catch((e) => { document.getElementById("counts").textContent = "error: " + e.message; });
}

// -- one job ----------------------------------------------------------------------------------
function jobView(id) {
  const view = document.getElementById("view");
  const cancel = el("button", { id: "cancel", onclick: () => act(id, "cancel") }, "Cancel");
  const retry = el("button", { id: "retry", onclick: () => act(id, "retry") }, "Retry");
  if (!info.can_retry) retry.hidden = true;
  view.replaceChildren(el("h2", {}, id), el("div", {}, cancel, retry, el("span", { id: "said" })),
    el("dl", { id: "fields" }), el("h3", {}, "Outputs"), el("ul", { id: "outputs" }),
    el("h3", {}, "Log"), el("pre", { id: "log" }));
  loadJob(id);
  timer = setInterval(() => loadJob(id), REFRESH_MS);
  follow(id, null);
}

function loadJob(id) {
  api("api/jobs/" + encodeURIComponent(id)).then((j) => {
    const fields = document.getElementById("fields");
    if (!fields) return;
    const rows = [["status", el("span", { class: j.status, id: "job-status" }, j.status)],
      ["reason", j.reason || "-"], ["message", j.message || "-"], ["function", j.function],
      ["progress", bar(j.progress)], ["created", j.created || "-"], ["started", j.started || "-"],
      ["finished", j.finished || "-"], ["duration", seconds(j.duration)],
      ["attempts", String(j.attempts || "-")], ["node", j.node || "-"]];
    for (const metric of Object.entries((j.progress && j.progress.metrics) || {})) rows.push(metric.map(String));
    for (const a of j.previous_attempts || []) rows.push([`attempt ${a.attempt}`, `${a.reason || "?"}: ${a.message || ""}`]);
    if (j.resources_text) rows.push(["resources", el("span", { id: "resources" }, j.resources_text)]);
    if (j.retry_of) rows.push(["retry of", el("a", { id: "retry-of", href: "#/job/" + j.retry_of }, j.retry_of)]);
    if ((j.retried_as || []).length) rows.push(["retried as", el("span", {}, ...j.retried_as.map((r) => el("a", { href: "#/job/" + r }, r + " ")))]);
    fields.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    document.getElementById("outputs").replaceChildren(...(j.outputs || []).map((p) =>
      el("li", {}, el("a", { href: withToken(`api/jobs/${encodeURIComponent(id)}/outputs/${p}`) }, p))));
    const finished = ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.status);
    document.getElementById("cancel").disabled = finished;
    document.getElementById("retry").disabled = !finished;
  }).catch((e) => { const s = document.getElementById("said"); if (s) s.textContent = "error: " + e.message; });
}

function follow(id, lastId) {
  // EventSource reconnects by itself with Last-Event-ID; the server resumes from it.
  stream = new EventSource(withToken(`api/jobs/${encodeURIComponent(id)}/logs`));
  const log = document.getElementById("log");
  stream.addEventListener("log", (e) => { log.append(JSON.parse(e.data).text); log.scrollTop = log.scrollHeight; });
  stream.addEventListener("end", () => { stream.close(); log.dataset.ended = "1"; });
}

function act(id, verb) {
  if (!confirm(`${verb} ${id}?`)) return;
  const said = document.getElementById("said");
  api(`api/jobs/${encodeURIComponent(id)}/${verb}`, { method: "POST" }).then((r) => {
    if (verb === "retry") { said.replaceChildren(" retried as ", el("a", { id: "retried", href: "#/job/" + r.job_id }, r.job_id)); }
    else { said.textContent = ` ${r.status}`; loadJob(id); }
  }).catch((e) => { said.textContent = " error: " + e.message; });
}

// -- routing ----------------------------------------------------------------------------------
function route() {
  stop();
  const m = location.hash.match(/^#\/(job|batch|workflow)\/(.+)$/);
  const views = { job: jobView, batch: batchView, workflow: workflowView };
  if (m) { views[m[1]](decodeURIComponent(m[2])); return; }
  if (location.hash === "#/batches") { batchesView(); return; }
  if (location.hash === "#/workflows") { workflowsView(); return; }
  const q = new URLSearchParams(location.hash.replace(/^#\/\??/, ""));
  if (q.has("batch") || q.has("workflow")) {
    Object.assign(list, { batch: q.get("batch") || "", workflow: q.get("workflow") || "", offset: 0 });
  }
  listView();
}

window.addEventListener("hashchange", route);
api("api/info").then((i) => { info = i; document.getElementById("where").textContent = `${i.backend} · ${i.store}`; })
  .catch(() => {}).finally(route);
