import { describe, expect, it } from "vitest";
import { conditionText, FINALLY, layout, nodeView } from "../src/graph";
import { detail } from "./fixtures";

describe("the graph's model", () => {
  it("colours a node by its phase, marks the selected one, and says why it failed", () => {
    const d = detail();
    const b = nodeView(d, "b", "b", Date.parse("2026-11-21T12:05:00Z"));
    expect(b.className).toBe("node phase-Failed selected");
    expect(b.tip).toBe("b: Failed: NonZeroExit: exited with code 3");
    expect(b.info).toBe("Failed · attempts 2 · -");
    const unknown = nodeView(d, "zz", null);
    expect([unknown.phase, unknown.className]).toEqual(["Pending", "node phase-Pending"]);
  });

  it("lays out every task and every dependency, parents above children", () => {
    const g = layout(detail());
    expect(g.nodes().sort()).toEqual(["a", "b"]);
    expect(g.edges().map((e) => [e.v, e.w])).toEqual([["a", "b"]]);
    expect(g.node("a").y).toBeLessThan(g.node("b").y);
  });

  it("draws a Skipped task as such, with the condition that skipped it", () => {
    const d = detail();
    d.graph.push({ name: "c", dependencies: ["a"], when: "tasks.a.outputs.go", trigger: "AllSucceeded" });
    d.tasks.c = { phase: "Skipped", reason: "WhenFalse", message: "when 'tasks.a.outputs.go' is false" };
    const c = nodeView(d, "c", null);
    expect(c.className).toBe("node phase-Skipped");
    expect(c.info).toBe("Skipped · condition false");
    expect(c.tip).toContain("when tasks.a.outputs.go");
    expect(conditionText({ trigger: "AnyFailed", when: null })).toBe("trigger AnyFailed");
    expect(conditionText({ trigger: "AllSucceeded" })).toBe("");
  });

  it("puts finally tasks in their own cluster, below every other task, with no drawn edge to them", () => {
    const d = detail();
    d.graph.push({ name: "report", dependencies: [], final: true }, { name: "archive", dependencies: ["report"], final: true });
    const g = layout(d);
    expect(g.parent("report")).toBe(FINALLY);
    expect(g.parent("archive")).toBe(FINALLY);
    expect(g.node("report").y).toBeGreaterThan(g.node("b").y);
    expect(g.node("archive").y).toBeGreaterThan(g.node("report").y);
    const hidden = g.edges().filter((e) => g.edge(e).hidden).map((e) => [e.v, e.w]);
    expect(hidden).toEqual([["b", "report"]]);
    expect(nodeView(d, "report", null).className).toBe("node phase-Pending final");
  });
});
