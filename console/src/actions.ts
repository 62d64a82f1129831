// What the page asks for, from what the server offers. Pure: no DOM.
import type { Detail, Offer, RequestView } from "./api";

export type Extra = "step" | "json" | undefined;

// The run's own offers under "", each task's under its name.
export function offersFor(detail: Detail, task: string | null): Offer[] {
  return detail.offers[task ?? ""] || [];
}

export function extraOf(offer: Offer): Extra {
  return offer.mode === "Step" ? "step" : offer.mode === "ProvideOutputs" ? "json" : undefined;
}

export function reruns(offer: Offer): string {
  if (!offer.reruns.length) return "";
  const verb = offer.mode === "ProvideOutputs" ? "resolve" : "rerun";
  const items = Object.entries(offer.items || {}).map(([task, list]) =>
    ` (items of ${task}: ${list.length ? list.join(", ") : "none, the rest kept"})`).join("");
  const maybe = offer.conditional?.length ? `; by their conditions, may run or be Skipped: ${offer.conditional.join(", ")}` : "";
  const last = offer.final?.length ? `; finally tasks run again: ${offer.final.join(", ")}` : "";
  return `Will ${verb}: ${offer.reruns.join(", ")}${items}${maybe}${last}`;
}

export type Built = { body: Record<string, unknown> } | { error: string };

// The request body for ``offer``, with what the dialog asked for: the Step's checkbox,
// or the outputs typed (one JSON object).
export function requestFrom(offer: Offer, input: { updatePhase?: boolean; outputs?: string }): Built {
  const body: Record<string, unknown> = { mode: offer.mode };
  if (offer.task) body.task = offer.task;
  if (offer.task && offer.items?.[offer.task] && offer.action.startsWith("item-")) body.items = offer.items[offer.task];
  if (offer.mode === "Step") body.updateExecutionPhase = Boolean(input.updatePhase);
  if (offer.mode === "ProvideOutputs") {
    let parsed: unknown;
    try { parsed = JSON.parse(input.outputs ?? ""); } catch (error) {
      return { error: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      return { error: "the outputs must be a JSON object, like {\"rows\": 42}" };
    }
    body.outputs = parsed;
  }
  return { body };
}

// What decides a task's attempts and logs: they are fetched again only when this changes
// (the task selected, or its phase, attempts or Job), not on every message of the stream.
export function attemptsKey(detail: Detail, task: string, item: number | null = null): string {
  const state = detail.tasks[task] || {};
  const letter = item !== null && state.map ? state.map.phases[item] ?? "" : "";
  return JSON.stringify([task, state.phase ?? "Pending", state.attempts ?? 0, state.job ?? null, item, letter]);
}

// The request the page made, as the Execution's stream shows it (no polling).
export function followed(detail: Detail, name: string | null): RequestView | undefined {
  return name ? detail.recoveryRequests.find((r) => r.name === name) : undefined;
}
