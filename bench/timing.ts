// Small timing helpers shared by the benchmarks.
import { performance } from 'node:perf_hooks';

export interface BenchResult {
  name: string;
  /** [what, milliseconds] */
  rows: [string, number][];
  /** [what, ratio] — measured against a baseline taken in the same run. */
  ratios: [string, number][];
  goal?: string;
}

export function timeMs(f: () => unknown): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function formatResult(r: BenchResult): string {
  const lines = [`## ${r.name}`];
  for (const [what, ms] of r.rows) lines.push(`  ${what.padEnd(68)} ${ms.toFixed(0).padStart(8)} ms`);
  for (const [what, x] of r.ratios) lines.push(`  ${what.padEnd(68)} ${x.toFixed(3).padStart(8)} ×`);
  if (r.goal) lines.push(`  goal: ${r.goal}`);
  return lines.join('\n');
}
