// The stage graph: dependency order and cycle detection. Pure functions, tested on small graphs.

/** Stage name → names it needs. */
export type Graph = Record<string, readonly string[]>;

/**
 * A dependency order (every stage after all it needs), stable: among ready stages, the one
 * written first in the file goes first. Returns the cycle instead when there is one.
 */
export function topoOrder(g: Graph): { order: string[] } | { cycle: string[] } {
  const names = Object.keys(g);
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    const s = state.get(n);
    if (s === 'done') return undefined;
    if (s === 'visiting') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'visiting');
    stack.push(n);
    for (const d of g[n] ?? []) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(n, 'done');
    order.push(n);
    return undefined;
  };
  for (const n of names) {
    const cycle = visit(n);
    if (cycle) return { cycle };
  }
  return { order };
}
