// The console server's API and the typed views it returns. Calls use relative URLs,
// so the page works behind `kubectl proxy` and any path prefix.

// ``when`` and ``trigger`` decide whether a task runs or is Skipped; ``final``: a finally
// task, run once every other task has ended (drawn apart).
export interface GraphTask { name: string; dependencies: string[]; when?: string | null; trigger?: string; final?: boolean }
// A map task's items, compact: a phase letter each, and detail only where an item needs it.
export interface ItemDetail { attempts?: number; exitCode?: number | null; reason?: string; message?: string; failures?: number }
export interface MapState {
  count: number; phases: string; attempts: Record<string, number>;
  // Page (item / 100) -> item -> outputs, for items that succeeded with any.
  outputs: Record<string, Record<string, Record<string, unknown>>>; items: Record<string, ItemDetail>;
}
export interface TaskState {
  phase?: string; attempts?: number; job?: string; reason?: string; message?: string;
  outputs?: Record<string, unknown> | null; startedAt?: string | null; finishedAt?: string | null;
  map?: MapState | null;
}
export interface HistoryEntry {
  time: string; event: string; task?: string | null; item?: number | null; items?: number[] | null; attempt?: number | null;
  by?: string | null; request?: string | null; message?: string | null;
}
export interface Condition { type: string; status: string; reason?: string; message?: string }
// A recovery the engine would accept now, with its confirmation and what it reruns:
// worked out by the server from the engine's rules, never by the page.
// ``items``: map task -> the items it reruns (ProvideOutputs: resolves); absent for none.
export interface Offer {
  action: string; title: string; mode: string; task: string | null; warning: string; reruns: string[];
  items?: Record<string, number[]>; conditional?: string[]; final?: string[];
}
// What a recovery would do now, by the engine's rules; ``problem`` when it would be rejected.
export interface Preview {
  mode: string; task: string | null; reruns: string[]; kept: string[]; warning: string; problem: string | null; items: Record<string, number[]>;
  conditional?: string[]; final?: string[];  // may run or be Skipped; finally tasks run again
}
export interface RequestView { name: string; mode: string; task: string | null; phase: string; message: string | null; requestedBy: string | null }
export interface Summary {
  name: string; workflow: string | null; phase: string; progress: string;
  startedAt: string | null; finishedAt: string | null;
}
export interface Detail extends Summary {
  namespace: string;
  graph: GraphTask[];
  tasks: Record<string, TaskState>;
  history: HistoryEntry[];
  conditions: Condition[];
  offers: Record<string, Offer[]>;
  recoveryRequests: RequestView[];
  holds: Hold[];  // stop, suspend, resume: what may be asked of the run now
  stoppedAt?: string | null;  // stopped by spec.stop, not recovered since
}
export interface Hold { action: string; title: string; warning: string }
export interface MissedRun { time: string; reason: string; message?: string | null }
export interface ScheduleView {
  name: string; schedule: string; timeZone: string; suspend: boolean; concurrencyPolicy: string;
  next: string | null; last: string | null; active: string[]; missed: MissedRun[]; runs: Summary[];
}
export interface Attempt {
  attempt: number; job: string; outcome: string; exitCode: number | null; reason: string | null;
  message: string | null; startedAt: string | null; finishedAt: string | null; pod: string | null;
}

export class ApiError extends Error {
  constructor(public status: number, message: string) { super(message); }
}

function csrf(): string {
  const found = document.cookie.split("; ").find((c) => c.startsWith("headway_csrf="));
  return found ? decodeURIComponent(found.split("=")[1]) : "";
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { "X-CSRF-Token": csrf() };
  if (init.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...init, headers, credentials: "same-origin" });
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    throw new ApiError(response.status, typeof body === "string" ? body : body.error || response.statusText);
  }
  return body as T;
}

export const paths = {
  namespace: (ns: string) => `api/namespaces/${encodeURIComponent(ns)}`,
  executions: (ns: string) => `${paths.namespace(ns)}/executions`,
  schedules: (ns: string) => `${paths.namespace(ns)}/schedules`,
  execution: (ns: string, name: string) => `${paths.executions(ns)}/${encodeURIComponent(name)}`,
  stream: (ns: string, name: string) => `${paths.execution(ns, name)}/stream`,
  attempts: (ns: string, name: string, task: string, item?: number) =>
    `${paths.execution(ns, name)}/tasks/${encodeURIComponent(task)}/attempts${item === undefined ? "" : `?item=${item}`}`,
  preview: (ns: string, name: string, mode: string, task: string, items: number[]) =>
    `${paths.execution(ns, name)}/preview?mode=${encodeURIComponent(mode)}&task=${encodeURIComponent(task)}&items=${items.join(",")}`,
  recover: (ns: string, name: string) => `${paths.execution(ns, name)}/recover`,
  hold: (ns: string, name: string) => `${paths.execution(ns, name)}/hold`,
  log: (ns: string, pod: string) => `${paths.namespace(ns)}/pods/${encodeURIComponent(pod)}/log`,
  permissions: (ns: string) => `${paths.namespace(ns)}/permissions`,
};
