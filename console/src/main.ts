// Headway's console page. Every text from the cluster is put in with textContent,
// never as HTML. Calls go to the console's API with relative URLs, so the page works
// behind `kubectl proxy` and any path prefix.
import dagre from "@dagrejs/dagre";
import { AUDIT_EVENTS, EXECUTION_PHASES, REQUEST_FINISHED } from "./vocabulary";

type Json = Record<string, any>;
interface GraphTask { name: string; dependencies: string[] }
interface Detail {
  name: string; namespace: string; workflow: string | null; phase: string; progress: string;
  startedAt: string | null; finishedAt: string | null;
  graph: GraphTask[]; tasks: Record<string, Json>; history: Json[]; requests: Json[];
  conditions: Json[];
  // The recoveries the engine would accept now, by task ("" for the whole run), each
  // with its confirmation and what it reruns: worked out by the server, never here.
  offers: Record<string, Offer[]>;
}
interface Offer { action: string; title: string; mode: string; task: string | null; warning: string; reruns: string[] }

const AUDIT = new Set<string>(AUDIT_EVENTS);
const FINISHED_REQUEST = new Set<string>(REQUEST_FINISHED);

const main = document.getElementById("main") as HTMLElement;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function csrf(): string {
  const found = document.cookie.split("; ").find((c) => c.startsWith("headway_csrf="));
  return found ? decodeURIComponent(found.split("=")[1]) : "";
}

class ApiError extends Error {
  constructor(public status: number, message: string) { super(message); }
}

async function api(path: string, init: RequestInit = {}): Promise<any> {
  const headers: Record<string, string> = { "X-CSRF-Token": csrf() };
  if (init.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...init, headers, credentials: "same-origin" });
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new ApiError(response.status, typeof body === "string" ? body : body.error || response.statusText);
  }
  return body;
}

function showError(error: unknown, where: HTMLElement = main): void {
  if (error instanceof ApiError && error.status === 401) {
    signIn("You are signed out: " + error.message);
    return;
  }
  where.append(el("p", error instanceof Error ? error.message : String(error), "error"));
}

// --- sign-in -------------------------------------------------------------------------

function signIn(message?: string): void {
  main.replaceChildren();
  (document.getElementById("who") as HTMLElement).textContent = "";
  (document.getElementById("logout") as HTMLElement).hidden = true;
  const form = el("form");
  form.id = "signin";
  form.append(el("h2", "Sign in"));
  form.append(el("p", "Paste a Kubernetes bearer token, e.g. from `kubectl create token NAME`. It is kept in an HttpOnly cookie and used for every call you make.", "muted"));
  const input = el("input");
  input.type = "password";
  input.id = "token";
  input.autocomplete = "off";
  const button = el("button", "Sign in", "primary");
  button.type = "submit";
  form.append(input, " ", button);
  if (message) form.append(el("p", message, "error"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("api/login", { method: "POST", body: JSON.stringify({ token: input.value }) });
      route();
    } catch (error) {
      signIn(error instanceof Error ? error.message : String(error));
    }
  });
  main.append(form);
}

async function whoami(): Promise<string | null> {
  try {
    return (await api("api/whoami")).user as string;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

// --- routing -------------------------------------------------------------------------

let closeStream: (() => void) | null = null;

async function route(): Promise<void> {
  closeStream?.();
  closeStream = null;
  const user = await whoami().catch(() => null);
  if (!user) { signIn(); return; }
  (document.getElementById("who") as HTMLElement).textContent = `signed in as ${user}`;
  (document.getElementById("logout") as HTMLElement).hidden = false;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const namespace = parts[0] === "ns" && parts[1] ? parts[1] : "default";
  if (parts[2] === "x" && parts[3]) await executionPage(namespace, parts[3]);
  else await listPage(namespace);
}

// --- executions list -----------------------------------------------------------------

async function listPage(namespace: string): Promise<void> {
  main.replaceChildren();
  const bar = el("form");
  const ns = el("input");
  ns.type = "text";
  ns.id = "namespace";
  ns.value = namespace;
  const phase = el("select");
  phase.id = "phase-filter";
  for (const p of ["", ...EXECUTION_PHASES]) {
    const option = el("option", p || "every phase");
    option.value = p;
    phase.append(option);
  }
  bar.append("Namespace ", ns, " ", phase, " ", el("button", "Show"));
  bar.addEventListener("submit", (event) => { event.preventDefault(); location.hash = `#/ns/${encodeURIComponent(ns.value)}`; });
  main.append(bar);
  const table = el("table");
  table.id = "executions";
  const head = el("tr");
  for (const h of ["Name", "Workflow", "Phase", "Progress", "Started", "Duration"]) head.append(el("th", h));
  table.append(head);
  main.append(table);
  let rows: Json[] = [];
  try {
    rows = await api(`api/namespaces/${encodeURIComponent(namespace)}/executions`);
  } catch (error) { showError(error); return; }
  const draw = () => {
    table.replaceChildren(head);
    for (const row of rows.filter((r) => !phase.value || r.phase === phase.value)) {
      const tr = el("tr");
      const link = el("a", row.name);
      link.href = `#/ns/${encodeURIComponent(namespace)}/x/${encodeURIComponent(row.name)}`;
      const name = el("td");
      name.append(link);
      tr.append(name, el("td", row.workflow || "(inline)"), el("td", row.phase, `phase-${row.phase}`),
        el("td", row.progress), el("td", row.startedAt || "-"), el("td", duration(row.startedAt, row.finishedAt)));
      table.append(tr);
    }
  };
  phase.addEventListener("change", draw);
  draw();
}

function duration(start: string | null, end: string | null): string {
  if (!start) return "-";
  const seconds = Math.max(0, Math.round(((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000));
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s` : `${seconds}s`;
}

// --- one execution -------------------------------------------------------------------

interface View { namespace: string; name: string; detail: Detail | null; selected: string | null; canRecover: boolean }

async function executionPage(namespace: string, name: string): Promise<void> {
  main.replaceChildren();
  const view: View = { namespace, name, detail: null, selected: null, canRecover: false };
  const back = el("a", `← executions in ${namespace}`);
  back.href = `#/ns/${encodeURIComponent(namespace)}`;
  const title = el("h2", name);
  const summary = el("p", "", "muted");
  summary.id = "summary";
  const actions = el("div");
  actions.id = "actions";
  const outcome = el("div");
  outcome.id = "outcome";
  const layout = el("div", undefined, "layout");
  const graph = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  graph.id = "graph";
  const panel = el("div");
  panel.id = "panel";
  panel.append(el("p", "Select a task to see its attempts, outputs and logs.", "muted"));
  layout.append(graph, panel);
  const history = el("table");
  history.id = "history";
  // Why a run has not started (e.g. nobody was checked as allowed to define it).
  const notReady = el("p", undefined, "error");
  notReady.id = "not-ready";
  main.append(back, title, summary, notReady, actions, outcome, layout, el("h3", "Progress path"), history);
  try {
    view.canRecover = (await api(`api/namespaces/${encodeURIComponent(namespace)}/permissions`)).recover;
  } catch (error) { showError(error); return; }
  const redraw = () => {
    const d = view.detail;
    if (!d) return;
    summary.textContent = `${d.phase} · ${d.progress} tasks · started ${d.startedAt || "-"} · ${duration(d.startedAt, d.finishedAt)}`;
    summary.dataset.phase = d.phase;
    const blocked = (d.conditions || []).find((c) => c.type === "Ready" && c.status === "False");
    notReady.textContent = blocked ? `Not started: ${blocked.reason}: ${blocked.message}` : "";
    drawGraph(graph, d, view, redraw);
    drawActions(actions, outcome, view);
    drawHistory(history, d.history);
    if (view.selected) drawPanel(panel, outcome, view);
  };
  const source = new EventSource(`api/namespaces/${encodeURIComponent(namespace)}/executions/${encodeURIComponent(name)}/stream`);
  source.onmessage = (message) => { view.detail = JSON.parse(message.data) as Detail; redraw(); };
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) summary.textContent = "the live view ended: reload the page"; };
  closeStream = () => source.close();
}

function drawGraph(svg: SVGSVGElement, d: Detail, view: View, redraw: () => void): void {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 40, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of d.graph) g.setNode(task.name, { width: 200, height: 46 });
  for (const task of d.graph) for (const parent of task.dependencies) g.setEdge(parent, task.name);
  dagre.layout(g);
  const size = g.graph();
  svg.setAttribute("width", String(size.width || 200));
  svg.setAttribute("height", String(size.height || 100));
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  for (const edge of g.edges()) {
    const points = g.edge(edge).points || [];
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" "));
    path.setAttribute("class", "edge");
    svg.append(path);
  }
  for (const name of g.nodes()) {
    const box = g.node(name);
    const state = d.tasks[name] || {};
    const phase = state.phase || "Pending";
    const group = document.createElementNS(ns, "g");
    group.setAttribute("class", `node phase-${phase}${view.selected === name ? " selected" : ""}`);
    group.setAttribute("data-task", name);
    group.setAttribute("data-phase", phase);
    group.setAttribute("transform", `translate(${box.x - box.width / 2},${box.y - box.height / 2})`);
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("width", String(box.width));
    rect.setAttribute("height", String(box.height));
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "8");
    label.setAttribute("y", "18");
    label.textContent = name;
    const info = document.createElementNS(ns, "text");
    info.setAttribute("x", "8");
    info.setAttribute("y", "36");
    info.textContent = `${phase} · attempts ${state.attempts ?? 0} · ${duration(state.startedAt ?? null, state.finishedAt ?? null)}`;
    const tip = document.createElementNS(ns, "title");
    tip.textContent = [name, phase, state.reason, state.message].filter(Boolean).join(": ");
    group.append(rect, label, info, tip);
    group.addEventListener("click", () => { view.selected = name; redraw(); });
    svg.append(group);
  }
}

function drawActions(actions: HTMLElement, outcome: HTMLElement, view: View): void {
  actions.replaceChildren();
  const d = view.detail;
  if (!d || !view.canRecover) return;
  for (const offer of d.offers[""] || []) {
    const button = el("button", offer.title, "primary");
    button.id = offer.action;
    button.addEventListener("click", () => act(view, outcome, offer));
    actions.append(button);
  }
}

async function drawPanel(panel: HTMLElement, outcome: HTMLElement, view: View): Promise<void> {
  const d = view.detail as Detail;
  const task = view.selected as string;
  const state = d.tasks[task] || {};
  const fresh = el("div");
  fresh.append(el("h3", task));
  const facts = el("p", `${state.phase || "Pending"} · attempts ${state.attempts ?? 0}${state.reason ? ` · ${state.reason}` : ""}`);
  facts.id = "task-phase";
  fresh.append(facts);
  if (state.message) fresh.append(el("p", state.message, "error"));
  if (view.canRecover) {
    const bar = el("div");
    bar.id = "task-actions";
    for (const offer of d.offers[task] || []) {
      const button = el("button", offer.title);
      button.id = offer.action;
      button.addEventListener("click", () => act(view, outcome, offer));
      bar.append(button);
    }
    fresh.append(bar);
  }
  fresh.append(el("h4", "Outputs"));
  const outputs = el("pre", state.outputs ? JSON.stringify(state.outputs, null, 2) : "(none)");
  outputs.id = "task-outputs";
  fresh.append(outputs);
  fresh.append(el("h4", "Progress path"));
  const path = el("ul");
  for (const h of d.history.filter((h) => h.task === task)) path.append(el("li", `${h.time} ${h.event}${h.by ? ` by ${h.by}` : ""}${h.message ? `: ${h.message}` : ""}`));
  fresh.append(path);
  fresh.append(el("h4", "Attempts"));
  const attempts = el("table");
  attempts.id = "attempts";
  fresh.append(attempts);
  fresh.append(el("h4", "Logs (latest attempt)"));
  const logs = el("pre", "…");
  logs.id = "task-logs";
  fresh.append(logs);
  panel.replaceChildren(fresh);
  const base = `api/namespaces/${encodeURIComponent(view.namespace)}`;
  try {
    const list: Json[] = await api(`${base}/executions/${encodeURIComponent(view.name)}/tasks/${encodeURIComponent(task)}/attempts`);
    const head = el("tr");
    for (const h of ["#", "Job", "Outcome", "Exit", "Reason", "Started", "Finished"]) head.append(el("th", h));
    attempts.replaceChildren(head);
    for (const a of list) {
      const tr = el("tr");
      for (const v of [a.attempt, a.job, a.outcome, a.exitCode ?? "-", [a.reason, a.message].filter(Boolean).join(": ") || "-", a.startedAt || "-", a.finishedAt || "-"]) tr.append(el("td", String(v)));
      attempts.append(tr);
    }
    const latest = list.find((a) => a.pod);
    logs.textContent = latest ? await api(`${base}/pods/${encodeURIComponent(latest.pod)}/log`) : "(no pod)";
  } catch (error) {
    logs.textContent = error instanceof Error ? error.message : String(error);
  }
}

// --- acting ----------------------------------------------------------------------------

function act(view: View, outcome: HTMLElement, offer: Offer): void {
  const body: Json = offer.task ? { mode: offer.mode, task: offer.task } : { mode: offer.mode };
  const extra = offer.mode === "Step" ? "step" : offer.mode === "ProvideOutputs" ? "json" : undefined;
  const dialog = document.getElementById("confirm") as HTMLDialogElement;
  (document.getElementById("confirm-title") as HTMLElement).textContent = offer.title;
  (document.getElementById("confirm-text") as HTMLElement).textContent = offer.warning;
  (document.getElementById("confirm-tasks") as HTMLElement).textContent = offer.reruns.length ? `Will ${offer.mode === "ProvideOutputs" ? "resolve" : "rerun"}: ${offer.reruns.join(", ")}` : "";
  const phaseRow = document.getElementById("confirm-phase-row") as HTMLElement;
  const phaseBox = document.getElementById("confirm-phase") as HTMLInputElement;
  const jsonRow = document.getElementById("confirm-json-row") as HTMLElement;
  const jsonText = document.getElementById("confirm-json") as HTMLTextAreaElement;
  const jsonError = document.getElementById("confirm-json-error") as HTMLElement;
  phaseRow.hidden = extra !== "step";
  phaseBox.checked = false;
  jsonRow.hidden = extra !== "json";
  jsonError.textContent = "";
  const ok = document.getElementById("confirm-ok") as HTMLButtonElement;
  const submit = async (event: Event) => {
    const button = (event as SubmitEvent).submitter as HTMLButtonElement | null;
    if (!button || button.value !== "ok") return;
    const request: Json = { ...body };
    if (extra === "step") request.updateExecutionPhase = phaseBox.checked;
    if (extra === "json") {
      let parsed: unknown;
      try { parsed = JSON.parse(jsonText.value); } catch (error) {
        event.preventDefault();
        jsonError.textContent = `not valid JSON: ${error instanceof Error ? error.message : error}`;
        return;
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        event.preventDefault();
        jsonError.textContent = "the outputs must be a JSON object, like {\"rows\": 42}";
        return;
      }
      request.outputs = parsed;
    }
    form.removeEventListener("submit", submit);
    await send(view, outcome, request);
  };
  const form = ok.form as HTMLFormElement;
  form.addEventListener("submit", submit);
  dialog.addEventListener("close", () => form.removeEventListener("submit", submit), { once: true });
  dialog.showModal();
}

async function send(view: View, outcome: HTMLElement, request: Json): Promise<void> {
  outcome.replaceChildren();
  const base = `api/namespaces/${encodeURIComponent(view.namespace)}`;
  try {
    const created = await api(`${base}/executions/${encodeURIComponent(view.name)}/recover`, { method: "POST", body: JSON.stringify(request) });
    const line = el("p", `${request.mode} requested as ${created.name}: Pending`, "notice");
    line.id = "request-outcome";
    outcome.append(line);
    for (let i = 0; i < 600; i++) {
      const status = await api(`${base}/recoveryrequests/${encodeURIComponent(created.name)}`);
      line.textContent = `${request.mode} requested as ${created.name}: ${status.phase}${status.message ? ` — ${status.message}` : ""}${status.requestedBy ? ` (by ${status.requestedBy})` : ""}`;
      line.dataset.phase = status.phase;
      if (FINISHED_REQUEST.has(status.phase)) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } catch (error) { showError(error, outcome); }
}

function drawHistory(table: HTMLTableElement, history: Json[]): void {
  const head = el("tr");
  for (const h of ["Time", "Task", "Event", "Attempt", "Who", "Request", "Message"]) head.append(el("th", h));
  table.replaceChildren(head);
  for (const h of history) {
    const tr = el("tr", undefined, AUDIT.has(h.event) ? "audit" : "");
    for (const v of [h.time, h.task, h.event, h.attempt, h.by, h.request, h.message]) tr.append(el("td", v === undefined || v === null ? "-" : String(v)));
    table.append(tr);
  }
}

// --- start ---------------------------------------------------------------------------

(document.getElementById("logout") as HTMLElement).addEventListener("click", async () => {
  await api("api/logout", { method: "POST" }).catch(() => undefined);
  signIn();
});
window.addEventListener("hashchange", () => { route(); });
route();
