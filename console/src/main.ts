// Headway's console page: routing, sign-in, the executions list and one execution's view.
// The page shows what the server gives it: the recoveries a run and each task offer (with
// their confirmations) come from the engine's rules on the server; the words it compares
// against come from the generated vocabulary.
import { api, ApiError, paths, type Detail, type Offer, type ScheduleView, type Summary } from "./api";
import { attemptsKey, followed, offersFor } from "./actions";
import { confirmHold, confirmOffer } from "./dialog";
import { byId, el } from "./dom";
import { duration, historyCells, requestLine } from "./format";
import { drawGraph } from "./graph";
import { drawPanel, fillAttempts, type Kept } from "./panel";
import { AUDIT_EVENTS, EXECUTION_PHASES, REQUEST_FINISHED } from "./vocabulary";

const AUDIT = new Set<string>(AUDIT_EVENTS);
const FINISHED_REQUEST = new Set<string>(REQUEST_FINISHED);
const main = byId("main");

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
  byId("who").textContent = "";
  byId("logout").hidden = true;
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
    return (await api<{ user: string }>("api/whoami")).user;
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
  byId("who").textContent = `signed in as ${user}`;
  byId("logout").hidden = false;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const namespace = parts[0] === "ns" && parts[1] ? parts[1] : "default";
  if (parts[2] === "x" && parts[3]) await executionPage(namespace, parts[3]);
  else if (parts[2] === "schedules") await schedulesPage(namespace);
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
  const toSchedules = el("a", "Schedules");
  toSchedules.id = "to-schedules";
  toSchedules.href = `#/ns/${encodeURIComponent(namespace)}/schedules`;
  bar.append("Namespace ", ns, " ", phase, " ", el("button", "Show"), " ", toSchedules);
  bar.addEventListener("submit", (event) => { event.preventDefault(); location.hash = `#/ns/${encodeURIComponent(ns.value)}`; });
  main.append(bar);
  const table = el("table");
  table.id = "executions";
  const head = el("tr");
  for (const h of ["Name", "Workflow", "Phase", "Progress", "Started", "Duration"]) head.append(el("th", h));
  table.append(head);
  main.append(table);
  let rows: Summary[] = [];
  try {
    rows = await api<Summary[]>(paths.executions(namespace));
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

// --- schedules -----------------------------------------------------------------------

async function schedulesPage(namespace: string): Promise<void> {
  main.replaceChildren();
  const back = el("a", `← executions in ${namespace}`);
  back.href = `#/ns/${encodeURIComponent(namespace)}`;
  main.append(back, el("h2", "Schedules"));
  let found: ScheduleView[] = [];
  try {
    found = await api<ScheduleView[]>(paths.schedules(namespace));
  } catch (error) { showError(error); return; }
  if (!found.length) { main.append(el("p", `No schedules in ${namespace}.`, "muted")); return; }
  for (const s of found) {
    const section = el("section", undefined, "schedule");
    section.dataset.schedule = s.name;
    section.append(el("h3", s.name));
    const facts = [`${s.schedule} (${s.timeZone})`, s.concurrencyPolicy, `next ${s.next || "-"}`,
      `last ${s.last || "-"}`, `${s.active.length} active`];
    if (s.suspend) facts.push("suspended");
    section.append(el("p", facts.join(" · "), "muted"));
    for (const m of s.missed.slice(-3)) section.append(el("p", `missed ${m.time}: ${m.reason}${m.message ? ` (${m.message})` : ""}`, "note"));
    const table = el("table");
    const head = el("tr");
    for (const h of ["Run", "Phase", "Progress", "Started", "Duration"]) head.append(el("th", h));
    table.append(head);
    for (const run of s.runs) {
      const tr = el("tr");
      const link = el("a", run.name);
      link.href = `#/ns/${encodeURIComponent(namespace)}/x/${encodeURIComponent(run.name)}`;
      const cell = el("td");
      cell.append(link);
      tr.append(cell, el("td", run.phase, `phase-${run.phase}`), el("td", run.progress),
        el("td", run.startedAt || "-"), el("td", duration(run.startedAt, run.finishedAt)));
      table.append(tr);
    }
    section.append(table);
    main.append(section);
  }
}

// --- one execution -------------------------------------------------------------------

interface View {
  namespace: string; name: string; detail: Detail | null; selected: string | null; canRecover: boolean;
  canHold: boolean;  // may stop, suspend and resume (patch the Execution)
  item: number | null;  // the selected map task's item
  attemptsKey: string | null; attempts: Kept | undefined;
  request: { mode: string; name: string } | null;  // the one this page made, followed
}

async function executionPage(namespace: string, name: string): Promise<void> {
  main.replaceChildren();
  const view: View = {
    namespace, name, detail: null, selected: null, canRecover: false, canHold: false, item: null,
    attemptsKey: null, attempts: undefined, request: null,
  };
  const back = el("a", `← executions in ${namespace}`);
  back.href = `#/ns/${encodeURIComponent(namespace)}`;
  const summary = el("p", "", "muted");
  summary.id = "summary";
  // Why a run has not started (e.g. nobody was checked as allowed to define it).
  const notReady = el("p", undefined, "error");
  notReady.id = "not-ready";
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
  main.append(back, el("h2", name), summary, notReady, actions, outcome, layout, el("h3", "Progress path"), history);
  try {
    const allowed = await api<{ recover: boolean; hold: boolean }>(paths.permissions(namespace));
    view.canRecover = allowed.recover;
    view.canHold = allowed.hold;
  } catch (error) { showError(error); return; }

  const act = async (offer: Offer) => {
    const body = await confirmOffer(offer);
    if (body) await send(view, outcome, body, redraw);
  };
  const select = (task: string) => { view.selected = task; view.item = null; redraw(); };
  const selectItem = (index: number) => { view.item = index; redraw(); };
  function redraw(): void {
    const d = view.detail;
    if (!d) return;
    summary.textContent = `${d.phase} · ${d.progress} tasks · started ${d.startedAt || "-"} · ${duration(d.startedAt, d.finishedAt)}`;
    summary.dataset.phase = d.phase;
    const blocked = (d.conditions || []).find((c) => c.type === "Ready" && c.status === "False");
    notReady.textContent = blocked ? `Not started: ${blocked.reason}: ${blocked.message}` : "";
    drawGraph(graph, d, view.selected, select);
    actions.replaceChildren();
    if (view.canRecover) {
      for (const offer of offersFor(d, null)) {
        const button = el("button", offer.title, "primary");
        button.id = offer.action;
        button.addEventListener("click", () => act(offer));
        actions.append(button);
      }
    }
    if (view.canHold) {
      for (const hold of d.holds || []) {
        const button = el("button", hold.title);
        button.id = `hold-${hold.action}`;
        button.addEventListener("click", async () => {
          if (!(await confirmHold(hold))) return;
          outcome.replaceChildren();
          try {
            await api(paths.hold(namespace, name), { method: "POST", body: JSON.stringify({ action: hold.action }) });
          } catch (error) { showError(error, outcome); }
        });
        actions.append(button);
      }
    }
    drawHistory(history, d);
    drawRequest(outcome, view);
    if (view.selected) {
      const key = attemptsKey(d, view.selected, view.item);
      const context = { namespace, name, detail: d, task: view.selected, canRecover: view.canRecover, act, item: view.item, selectItem };
      const changed = key !== view.attemptsKey;
      view.attempts = drawPanel(panel, context, changed ? undefined : view.attempts);
      view.attemptsKey = key;
      if (changed) fillAttempts(view.attempts, context);
    }
  }
  const source = new EventSource(paths.stream(namespace, name));
  source.onmessage = (message) => { view.detail = JSON.parse(message.data) as Detail; redraw(); };
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) summary.textContent = "the live view ended: reload the page"; };
  closeStream = () => source.close();
}

// The request this page made, as the Execution's stream shows it: no polling.
function drawRequest(outcome: HTMLElement, view: View): void {
  if (!view.request || !view.detail) return;
  const line = (outcome.querySelector("#request-outcome") as HTMLElement | null) ?? el("p", "", "notice");
  line.id = "request-outcome";
  const seen = followed(view.detail, view.request.name);
  line.textContent = requestLine(view.request.mode, view.request.name, seen);
  line.dataset.phase = seen?.phase ?? "Pending";
  if (!line.isConnected) outcome.replaceChildren(line);
  if (seen && FINISHED_REQUEST.has(seen.phase)) view.request = null;
}

async function send(view: View, outcome: HTMLElement, request: Record<string, unknown>, redraw: () => void): Promise<void> {
  outcome.replaceChildren();
  try {
    const created = await api<{ name: string }>(paths.recover(view.namespace, view.name), { method: "POST", body: JSON.stringify(request) });
    view.request = { mode: String(request.mode), name: created.name };
    redraw();
  } catch (error) { showError(error, outcome); }
}

function drawHistory(table: HTMLTableElement, d: Detail): void {
  const head = el("tr");
  for (const h of ["Time", "Task", "Event", "Attempt", "Who", "Request", "Message"]) head.append(el("th", h));
  table.replaceChildren(head);
  for (const h of d.history) {
    const tr = el("tr", undefined, AUDIT.has(h.event) ? "audit" : "");
    for (const v of historyCells(h)) tr.append(el("td", v));
    table.append(tr);
  }
}

// --- start ---------------------------------------------------------------------------

byId("logout").addEventListener("click", async () => {
  await api("api/logout", { method: "POST" }).catch(() => undefined);
  signIn();
});
window.addEventListener("hashchange", () => { route(); });
route();
