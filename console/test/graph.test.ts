import { describe, expect, it } from "vitest";
import { layout, nodeView } from "../src/graph";
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
});
