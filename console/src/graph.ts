// The DAG, laid out by dagre: a pure model of what to draw, and the drawing.
import dagre from "@dagrejs/dagre";
import type { Detail } from "./api";
import { duration } from "./format";
import { svgEl } from "./dom";
import { itemCounts } from "./items";

export interface NodeView { name: string; phase: string; className: string; info: string; tip: string }

export function nodeView(detail: Detail, name: string, selected: string | null, now: number = Date.now()): NodeView {
  const state = detail.tasks[name] || {};
  const phase = state.phase || "Pending";
  const spec = detail.graph.find((t) => t.name === name);
  const shown = phase === "Skipped"
    ? `Skipped · ${state.reason === "WhenFalse" ? "condition false" : "trigger not met"}`
    : `${phase} · ${state.map ? mapInfo(state.map) : `attempts ${state.attempts ?? 0}`} · ${duration(state.startedAt ?? null, state.finishedAt ?? null, now)}`;
  return {
    name,
    phase,
    className: `node phase-${phase}${spec?.final ? " final" : ""}${selected === name ? " selected" : ""}`,
    info: shown,
    tip: [name, phase, state.reason, state.message, conditionText(spec)].filter(Boolean).join(": "),
  };
}

// What decides whether a task runs: its trigger (when not the default) and its ``when``.
export function conditionText(spec: { when?: string | null; trigger?: string } | undefined): string {
  const parts: string[] = [];
  if (spec?.trigger && spec.trigger !== "AllSucceeded") parts.push(`trigger ${spec.trigger}`);
  if (spec?.when) parts.push(`when ${spec.when}`);
  return parts.join(" · ");
}

export const FINALLY = "finally";  // the cluster the finally tasks are drawn in

// A map node's counts: items succeeded of all, and those failed or blocked.
function mapInfo(map: NonNullable<Detail["tasks"][string]["map"]>): string {
  const counts = itemCounts(map);
  const bad = (counts.Failed || 0) + (counts.Blocked || 0);
  return `${counts.Succeeded || 0}/${map.count} items${bad ? ` · ${bad} failed` : ""}`;
}

// Finally tasks go in a cluster of their own, ranked below every other task by edges
// that are laid out but never drawn (they are no dependencies).
export function layout(detail: Detail): dagre.graphlib.Graph {
  const finals = detail.graph.filter((t) => t.final);
  const g = new dagre.graphlib.Graph({ compound: finals.length > 0 });
  g.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 40, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of detail.graph) g.setNode(task.name, { width: 200, height: 46 });
  for (const task of detail.graph) for (const parent of task.dependencies) g.setEdge(parent, task.name);
  if (finals.length) {
    g.setNode(FINALLY, { label: FINALLY, clusterLabelPos: "top" });
    const parents = new Set(detail.graph.flatMap((t) => t.dependencies));
    const last = detail.graph.filter((t) => !t.final && !parents.has(t.name));
    for (const task of finals) {
      g.setParent(task.name, FINALLY);
      if (task.dependencies.length) continue;
      for (const sink of last) g.setEdge(sink.name, task.name, { hidden: true });
    }
  }
  dagre.layout(g);
  return g;
}

export function drawGraph(svg: SVGSVGElement, detail: Detail, selected: string | null, select: (task: string) => void): void {
  const g = layout(detail);
  const size = g.graph();
  svg.setAttribute("width", String(size.width || 200));
  svg.setAttribute("height", String(size.height || 100));
  svg.replaceChildren();
  if (g.hasNode(FINALLY)) {
    const box = g.node(FINALLY);
    const cluster = svgEl("g", { class: "cluster", transform: `translate(${box.x - box.width / 2},${box.y - box.height / 2})` });
    cluster.append(svgEl("rect", { width: String(box.width), height: String(box.height) }), svgEl("text", { x: "6", y: "14" }, FINALLY));
    svg.append(cluster);
  }
  for (const edge of g.edges()) {
    const drawn = g.edge(edge);
    if (drawn.hidden) continue;
    const points = drawn.points || [];
    svg.append(svgEl("path", { d: points.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" "), class: "edge" }));
  }
  for (const name of g.nodes()) {
    if (name === FINALLY) continue;
    const box = g.node(name);
    const view = nodeView(detail, name, selected);
    const group = svgEl("g", {
      class: view.className, "data-task": name, "data-phase": view.phase,
      transform: `translate(${box.x - box.width / 2},${box.y - box.height / 2})`,
    });
    group.append(
      svgEl("rect", { width: String(box.width), height: String(box.height) }),
      svgEl("text", { x: "8", y: "18" }, name),
      svgEl("text", { x: "8", y: "36" }, view.info),
      svgEl("title", {}, view.tip),
    );
    group.addEventListener("click", () => select(name));
    svg.append(group);
  }
}
