import { describe, expect, it } from "vitest";
import { attemptsKey, extraOf, followed, offersFor, requestFrom, reruns } from "../src/actions";
import { detail, flow, provide, step, whole } from "./fixtures";

describe("what the page asks for", () => {
  it("shows the offers the server gave, for the run and for each task, and none else", () => {
    const d = detail();
    expect(offersFor(d, null)).toEqual([whole]);
    expect(offersFor(d, "b").map((o) => o.action)).toEqual(["retry-flow", "retry-step", "provide-outputs"]);
    expect(offersFor(d, "a")).toEqual([]);
  });

  it("says what reruns, or what is resolved by hand", () => {
    expect(reruns(flow)).toBe("Will rerun: b, d");
    expect(reruns(provide)).toBe("Will resolve: b");
    expect(reruns({ ...flow, reruns: [] })).toBe("");
    expect(reruns({ ...flow, conditional: ["d"], final: ["z"] })).toBe(
      "Will rerun: b, d; by their conditions, may run or be Skipped: d; finally tasks run again: z");
  });

  it("builds the request of each offer with what the dialog asked", () => {
    expect(requestFrom(whole, {})).toEqual({ body: { mode: "Flow" } });
    expect(requestFrom(flow, {})).toEqual({ body: { mode: "Flow", task: "b" } });
    expect(requestFrom(step, { updatePhase: true })).toEqual({ body: { mode: "Step", task: "b", updateExecutionPhase: true } });
    expect(requestFrom(step, {})).toEqual({ body: { mode: "Step", task: "b", updateExecutionPhase: false } });
    expect(requestFrom(provide, { outputs: '{"rows": 42}' })).toEqual({ body: { mode: "ProvideOutputs", task: "b", outputs: { rows: 42 } } });
  });

  it("refuses outputs that are not one JSON object, saying why", () => {
    for (const bad of ["{x", "[1]", "null", "3", ""]) {
      const built = requestFrom(provide, { outputs: bad });
      expect("error" in built).toBe(true);
    }
    expect(requestFrom(provide, { outputs: "[1]" })).toEqual({ error: 'the outputs must be a JSON object, like {"rows": 42}' });
    expect(extraOf(step)).toBe("step");
    expect(extraOf(provide)).toBe("json");
    expect(extraOf(flow)).toBeUndefined();
  });

  it("fetches a task's attempts again only when the task or its attempts change", () => {
    const d = detail();
    const same = detail({ progress: "3/4", history: [{ time: "t", event: "Started" }] });
    expect(attemptsKey(same, "b")).toBe(attemptsKey(d, "b"));
    const retried = detail({ tasks: { ...d.tasks, b: { ...d.tasks.b, attempts: 3, job: "e-b-3", phase: "Running" } } });
    expect(attemptsKey(retried, "b")).not.toBe(attemptsKey(d, "b"));
    expect(attemptsKey(d, "a")).not.toBe(attemptsKey(d, "b"));
  });

  it("follows the request it made from the Execution's stream", () => {
    const seen = { name: "e-flow-1", mode: "Flow", task: null, phase: "Rejected", message: "no", requestedBy: "alice" };
    const d = detail({ recoveryRequests: [seen] });
    expect(followed(d, "e-flow-1")).toEqual(seen);
    expect(followed(d, "other")).toBeUndefined();
    expect(followed(d, null)).toBeUndefined();
  });
});
