// A task's panel: its facts, the recoveries it offers, outputs, progress path, and its
// attempts and latest log (fetched when the task or its attempts change).
import { api, paths, type Attempt, type Detail, type Offer, type Preview } from "./api";
import { offersFor } from "./actions";
import { el } from "./dom";
import { attemptCells, historyLine } from "./format";
import { conditionText } from "./graph";
import { countsText, drawGrid, ITEM_ACTIONS, itemOffer, itemView } from "./items";

export interface PanelContext {
  namespace: string; name: string; detail: Detail; task: string; canRecover: boolean;
  act: (offer: Offer) => void;
  item: number | null; selectItem: (index: number) => void;  // a map task's item shown
}
export type Kept = [HTMLElement, HTMLElement, HTMLElement];  // attempts, logs, item actions
// A succeeded attempt whose Job is gone: jobRetention Failed deleted it once recorded.
export const JOB_GONE = "(its Job was deleted once its outputs were recorded — jobRetention: Failed — and its logs with it)";

// Returns the attempts table and the log, to be filled; ``kept`` (from the draw before,
// when the task's attempts did not change) are put back as they are instead.
export function drawPanel(panel: HTMLElement, c: PanelContext, kept?: Kept): Kept {
  const state = c.detail.tasks[c.task] || {};
  const fresh = el("div");
  fresh.append(el("h3", c.task));
  const counted = state.map ? countsText(state.map) : `attempts ${state.attempts ?? 0}`;
  const facts = el("p", `${state.phase || "Pending"} · ${counted}${state.reason ? ` · ${state.reason}` : ""}`);
  facts.id = "task-phase";
  fresh.append(facts);
  const spec = c.detail.graph.find((t) => t.name === c.task);
  const decides = conditionText(spec);
  if (decides || spec?.final) {
    const line = el("p", [spec?.final ? "finally task: runs once every other task has ended" : "", decides].filter(Boolean).join(" · "));
    line.id = "task-condition";
    fresh.append(line);
  }
  if (state.message) fresh.append(el("p", state.message, state.phase === "Skipped" ? "note" : "error"));
  const [attempts, logs, itemActions] = kept ?? [el("table"), el("pre", "…"), el("div")];
  itemActions.id = "item-actions";
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
  if (state.map) {
    fresh.append(el("h4", "Items"), drawGrid(state.map, c.item, c.selectItem));
    if (c.item !== null && c.item < state.map.count) {
      const item = itemView(state.map, c.item);
      const line = el("p", `item ${c.item}: ${item.phase} · attempts ${item.attempts}${item.reason ? ` · ${item.reason}` : ""}`);
      line.id = "item-phase";
      const outputs = el("pre", item.outputs ? JSON.stringify(item.outputs, null, 2) : "(none)");
      outputs.id = "item-outputs";
      fresh.append(line, itemActions, outputs);
    }
  } else {
    fresh.append(el("h4", "Outputs"));
    const outputs = el("pre", state.outputs ? JSON.stringify(state.outputs, null, 2) : "(none)");
    outputs.id = "task-outputs";
    fresh.append(outputs);
  }
  fresh.append(el("h4", "Progress path"));
  const path = el("ul");
  for (const h of c.detail.history.filter((h) => h.task === c.task)) path.append(el("li", historyLine(h)));
  attempts.id = "attempts";
  logs.id = "task-logs";
  const which = state.map ? (c.item === null ? "select an item" : `item ${c.item}`) : "latest attempt";
  fresh.append(path, el("h4", `Attempts (${which})`), attempts, el("h4", `Logs (${which})`), logs);
  panel.replaceChildren(fresh);
  return [attempts, logs, itemActions];
}

// The recoveries of one item, each as the engine previews it now.
async function fillItemActions(bar: HTMLElement, c: PanelContext, index: number): Promise<void> {
  bar.replaceChildren();
  if (!c.canRecover) return;
  for (const [action, title, mode] of ITEM_ACTIONS) {
    const shown = await api<Preview>(paths.preview(c.namespace, c.name, mode, c.task, [index]));
    const offer = itemOffer(action, title, c.task, index, shown);
    if (!offer) continue;
    const button = el("button", title);
    button.id = action;
    button.addEventListener("click", () => c.act(offer));
    bar.append(button);
  }
}

export async function fillAttempts([attempts, logs, itemActions]: Kept, c: PanelContext): Promise<void> {
  const isMap = Boolean(c.detail.tasks[c.task]?.map);
  if (isMap && c.item === null) {
    attempts.replaceChildren();
    logs.textContent = "(select an item)";
    return;
  }
  try {
    if (isMap && c.item !== null) await fillItemActions(itemActions, c, c.item);
    const list = await api<Attempt[]>(paths.attempts(c.namespace, c.name, c.task, isMap ? c.item ?? undefined : undefined));
    const head = el("tr");
    for (const h of ["#", "Job", "Outcome", "Exit", "Reason", "Started", "Finished"]) head.append(el("th", h));
    attempts.replaceChildren(head);
    for (const a of list) {
      const tr = el("tr");
      for (const v of attemptCells(a)) tr.append(el("td", v));
      attempts.append(tr);
    }
    const latest = list.find((a) => a.pod);
    const gone = !list.length && (c.detail.tasks[c.task]?.phase === "Succeeded" || (isMap && c.item !== null));
    logs.textContent = latest?.pod
      ? await api<string>(paths.log(c.namespace, latest.pod))
      : gone ? JOB_GONE : "(no pod)";
  } catch (error) {
    logs.textContent = error instanceof Error ? error.message : String(error);
  }
}
