import { describe, expect, it } from "vitest";
import { reruns, requestFrom } from "../src/actions";
import type { MapState, Preview } from "../src/api";
import { nodeView } from "../src/graph";
import { countsText, itemOffer, itemView } from "../src/items";
import { detail } from "./fixtures";

const map: MapState = {
  count: 5, phases: "SSFRP", attempts: { "1": 3 },
  outputs: { "0": { "0": { n: 0 } } }, items: { "2": { attempts: 2, reason: "NonZeroExit", message: "exited with code 3", failures: 2 } },
};

describe("a map's items", () => {
  it("counts items by phase and shows them on the node", () => {
    expect(countsText(map)).toBe("items 5: 2 Succeeded, 1 Failed, 1 Running, 1 Pending");
    const d = detail({ tasks: { a: { phase: "Succeeded" }, b: { phase: "Running", map } } });
    expect(nodeView(d, "b", null, 0).info).toContain("2/5 items · 1 failed");
  });

  it("reads one item from the compact form", () => {
    expect(itemView(map, 0)).toEqual({ index: 0, phase: "Succeeded", attempts: 1, reason: "", outputs: { n: 0 } });
    expect(itemView(map, 1).attempts).toBe(3);
    expect(itemView(map, 2)).toMatchObject({ phase: "Failed", attempts: 2, reason: "NonZeroExit: exited with code 3", outputs: null });
    expect(itemView(map, 4)).toMatchObject({ phase: "Pending", attempts: 0 });
  });

  it("offers an item's recovery only as the engine previews it, naming the item", () => {
    const shown: Preview = { mode: "Flow", task: "b", reruns: ["b", "c"], kept: ["a"], warning: "w", problem: null, items: { b: [2] } };
    const offer = itemOffer("item-flow", "Retry this item", "b", 2, shown);
    expect(offer).not.toBeNull();
    expect(reruns(offer!)).toBe("Will rerun: b, c (items of b: 2)");
    expect(requestFrom(offer!, {})).toEqual({ body: { mode: "Flow", task: "b", items: [2] } });
    expect(itemOffer("item-flow", "Retry this item", "b", 2, { ...shown, problem: "still running" })).toBeNull();
  });
});
