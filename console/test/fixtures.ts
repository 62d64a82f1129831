import type { Detail, Offer } from "../src/api";

export const flow: Offer = { action: "retry-flow", title: "Retry from this task", mode: "Flow", task: "b", warning: "w", reruns: ["b", "d"] };
export const step: Offer = { action: "retry-step", title: "Re-trigger this step only", mode: "Step", task: "b", warning: "w", reruns: ["b"] };
export const provide: Offer = { action: "provide-outputs", title: "Provide outputs", mode: "ProvideOutputs", task: "b", warning: "w", reruns: ["b"] };
export const whole: Offer = { action: "recover-workflow", title: "Recover workflow", mode: "Flow", task: null, warning: "w", reruns: ["b", "d"] };

export function detail(overrides: Partial<Detail> = {}): Detail {
  return {
    name: "e", namespace: "ns", workflow: "wf", phase: "Failed", progress: "2/4",
    startedAt: "2026-11-21T12:00:00Z", finishedAt: "2026-11-21T12:01:05Z",
    graph: [{ name: "a", dependencies: [] }, { name: "b", dependencies: ["a"] }],
    tasks: { a: { phase: "Succeeded", attempts: 1, job: "e-a-1" }, b: { phase: "Failed", attempts: 2, job: "e-b-2", reason: "NonZeroExit", message: "exited with code 3" } },
    history: [], conditions: [], recoveryRequests: [], holds: [],
    offers: { "": [whole], b: [flow, step, provide] },
    ...overrides,
  };
}
