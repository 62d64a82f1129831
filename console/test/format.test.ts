import { describe, expect, it } from "vitest";
import { attemptCells, duration, historyCells, historyLine, requestLine } from "../src/format";

describe("words and numbers", () => {
  it("gives durations in seconds, then minutes and seconds", () => {
    expect(duration(null, null)).toBe("-");
    expect(duration("2026-11-21T12:00:00Z", "2026-11-21T12:00:09Z")).toBe("9s");
    expect(duration("2026-11-21T12:00:00Z", "2026-11-21T12:01:05Z")).toBe("1m05s");
    expect(duration("2026-11-21T12:00:00Z", null, Date.parse("2026-11-21T12:00:30Z"))).toBe("30s");
    expect(duration("2026-11-21T12:00:10Z", "2026-11-21T12:00:00Z")).toBe("0s");
  });

  it("tells the progress path with who and why", () => {
    const h = { time: "t1", event: "Retriggered", task: "b", by: "alice", request: "fix-1", message: "Flow" };
    expect(historyLine(h)).toBe("t1 Retriggered by alice: Flow");
    expect(historyCells({ time: "t2", event: "Started", task: "a", attempt: 1 })).toEqual(["t2", "a", "Started", "1", "-", "-", "-"]);
  });

  it("tells an attempt and a request", () => {
    const a = { attempt: 2, job: "e-b-2", outcome: "Failed", exitCode: 3, reason: "NonZeroExit", message: "boom", startedAt: null, finishedAt: null, pod: "p" };
    expect(attemptCells(a)).toEqual(["2", "e-b-2", "Failed", "3", "NonZeroExit: boom", "-", "-"]);
    expect(requestLine("Flow", "r1", undefined)).toBe("Flow requested as r1: Pending");
    expect(requestLine("Flow", "r1", { name: "r1", mode: "Flow", task: null, phase: "Succeeded", message: "done", requestedBy: "alice" }))
      .toBe("Flow requested as r1: Succeeded — done (by alice)");
  });
});
