// A map task's items for the page: counts by phase and one item's state, read from the
// compact form the engine writes (a phase letter each), and the grid that draws them.
import type { MapState, Offer, Preview } from "./api";
import { el } from "./dom";

export const PAGE = 100;  // items per page of outputs, as the engine writes them
export const LETTERS: Record<string, string> = { P: "Pending", R: "Running", T: "Retrying", S: "Succeeded", F: "Failed", B: "Blocked", X: "Stopped" };

export function itemCounts(map: MapState): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const letter of map.phases) counts[LETTERS[letter]] = (counts[LETTERS[letter]] || 0) + 1;
  return counts;
}

export function countsText(map: MapState): string {
  const found = Object.entries(itemCounts(map)).map(([phase, n]) => `${n} ${phase}`);
  return `items ${map.count}${found.length ? `: ${found.join(", ")}` : ""}`;
}

export interface ItemView { index: number; phase: string; attempts: number; reason: string; outputs: Record<string, unknown> | null }

export function itemView(map: MapState, index: number): ItemView {
  const phase = LETTERS[map.phases[index]] || "Pending";
  const detail = map.items[String(index)];
  const attempts = detail?.attempts ?? map.attempts[String(index)] ?? (phase === "Pending" ? 0 : 1);
  const reason = [detail?.reason, detail?.message].filter(Boolean).join(": ");
  const page = map.outputs[String(Math.floor(index / PAGE))] || {};
  const outputs = phase === "Succeeded" ? page[String(index)] || {} : null;
  return { index, phase, attempts, reason, outputs };
}

// The item actions the page offers, from the engine's previews of each (one per mode);
// a preview the engine would reject is not offered.
export const ITEM_ACTIONS: [string, string, string][] = [
  ["item-flow", "Retry this item", "Flow"],
  ["item-step", "Re-trigger this item only", "Step"],
  ["item-outputs", "Provide this item's outputs", "ProvideOutputs"],
];

export function itemOffer(action: string, title: string, task: string, index: number, shown: Preview): Offer | null {
  if (shown.problem) return null;
  return {
    action, title, mode: shown.mode, task, warning: shown.warning, reruns: shown.reruns,
    items: { ...shown.items, [task]: [index] }, conditional: shown.conditional, final: shown.final,
  };
}

// One square per item, coloured by phase; the selected one outlined.
export function drawGrid(map: MapState, selected: number | null, select: (index: number) => void): HTMLElement {
  const grid = el("div", undefined, "items");
  grid.id = "items";
  for (let index = 0; index < map.count; index++) {
    const phase = LETTERS[map.phases[index]] || "Pending";
    const cell = el("button", String(index), `item phase-${phase}${selected === index ? " selected" : ""}`);
    cell.dataset.item = String(index);
    cell.dataset.phase = phase;
    cell.title = `item ${index}: ${phase}`;
    cell.addEventListener("click", () => select(index));
    grid.append(cell);
  }
  return grid;
}
