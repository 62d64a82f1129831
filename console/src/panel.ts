// A task's panel: its facts, the recoveries it offers, outputs, progress path, and its
// attempts and latest log (fetched when the task or its attempts change).
import { api, paths, type Attempt, type Detail, type Offer } from "./api";
import { offersFor } from "./actions";
import { el } from "./dom";
import { attemptCells, historyLine } from "./format";

export interface PanelContext {
  namespace: string; name: string; detail: Detail; task: string; canRecover: boolean;
  act: (offer: Offer) => void;
}

// Returns the attempts table and the log, to be filled; ``kept`` (from the draw before,
// when the task's attempts did not change) are put back as they are instead.
export function drawPanel(panel: HTMLElement, c: PanelContext, kept?: [HTMLElement, HTMLElement]): [HTMLElement, HTMLElement] {
  const state = c.detail.tasks[c.task] || {};
  const fresh = el("div");
  fresh.append(el("h3", c.task));
  const facts = el("p", `${state.phase || "Pending"} · attempts ${state.attempts ?? 0}${state.reason ? ` · ${state.reason}` : ""}`);
  facts.id = "task-phase";
  fresh.append(facts);
  if (state.message) fresh.append(el("p", state.message, "error"));
  if (c.canRecover) {
    const bar = el("div");
    bar.id = "task-actions";
    for (const offer of offersFor(c.detail, c.task)) {
      const button = el("button", offer.title);
      button.id = offer.action;
      button.addEventListener("click", () => c.act(offer));
      bar.append(button);
    }
    fresh.append(bar);
  }
  fresh.append(el("h4", "Outputs"));
  const outputs = el("pre", state.outputs ? JSON.stringify(state.outputs, null, 2) : "(none)");
  outputs.id = "task-outputs";
  fresh.append(outputs, el("h4", "Progress path"));
  const path = el("ul");
  for (const h of c.detail.history.filter((h) => h.task === c.task)) path.append(el("li", historyLine(h)));
  const [attempts, logs] = kept ?? [el("table"), el("pre", "…")];
  attempts.id = "attempts";
  logs.id = "task-logs";
  fresh.append(path, el("h4", "Attempts"), attempts, el("h4", "Logs (latest attempt)"), logs);
  panel.replaceChildren(fresh);
  return [attempts, logs];
}

export async function fillAttempts(attempts: HTMLElement, logs: HTMLElement, c: PanelContext): Promise<void> {
  try {
    const list = await api<Attempt[]>(paths.attempts(c.namespace, c.name, c.task));
    const head = el("tr");
    for (const h of ["#", "Job", "Outcome", "Exit", "Reason", "Started", "Finished"]) head.append(el("th", h));
    attempts.replaceChildren(head);
    for (const a of list) {
      const tr = el("tr");
      for (const v of attemptCells(a)) tr.append(el("td", v));
      attempts.append(tr);
    }
    const latest = list.find((a) => a.pod);
    logs.textContent = latest?.pod ? await api<string>(paths.log(c.namespace, latest.pod)) : "(no pod)";
  } catch (error) {
    logs.textContent = error instanceof Error ? error.message : String(error);
  }
}
