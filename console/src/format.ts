// Words and numbers as the page shows them. Pure: no DOM.
import type { Attempt, HistoryEntry, RequestView } from "./api";

export function duration(start: string | null | undefined, end: string | null | undefined, now: number = Date.now()): string {
  if (!start) return "-";
  const seconds = Math.max(0, Math.round(((end ? Date.parse(end) : now) - Date.parse(start)) / 1000));
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s` : `${seconds}s`;
}

export function historyLine(h: HistoryEntry): string {
  const item = h.item !== undefined && h.item !== null ? ` (item ${h.item})` : "";
  return `${h.time} ${h.event}${item}${h.by ? ` by ${h.by}` : ""}${h.message ? `: ${h.message}` : ""}`;
}

export function historyCells(h: HistoryEntry): string[] {
  const task = h.task && h.item !== undefined && h.item !== null ? `${h.task}[${h.item}]` : h.task;
  return [h.time, task, h.event, h.attempt, h.by, h.request, h.message].map((v) => (v === undefined || v === null ? "-" : String(v)));
}

export function attemptCells(a: Attempt): string[] {
  const why = [a.reason, a.message].filter(Boolean).join(": ") || "-";
  return [a.attempt, a.job, a.outcome, a.exitCode ?? "-", why, a.startedAt || "-", a.finishedAt || "-"].map(String);
}

// A request the page made, as its latest status tells it.
export function requestLine(mode: string, name: string, seen: RequestView | undefined): string {
  if (!seen) return `${mode} requested as ${name}: Pending`;
  return `${mode} requested as ${name}: ${seen.phase}${seen.message ? ` — ${seen.message}` : ""}${seen.requestedBy ? ` (by ${seen.requestedBy})` : ""}`;
}
