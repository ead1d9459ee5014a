// Runs side by side: the parameters that differ between them × their metrics, best marked, and
// seed replicates grouped into mean ± std per configuration.
import type { Json } from '../config/sourced.js';
import { canonicalJson } from '../pipeline/key.js';
import type { RunRecord } from '../runner/run-record.js';

export interface Row {
  label: string;
  runs: string[];
  params: Record<string, Json>;
  metrics: Record<string, number>;
  /** Population std over the replicates of a group (absent for single runs). */
  std?: Record<string, number>;
}

export interface Comparison {
  params: string[];
  metrics: string[];
  rows: Row[];
  /** Parameters whose values were averaged over (seed replicates). */
  replicates: string[];
  sortBy: string | undefined;
  /** Per metric: true when lower is better. */
  lowerIsBetter: Record<string, boolean>;
}

function flatten(v: unknown, prefix: string, out: Map<string, Json>): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, v as Json);
}

/** Every leaf of the config and of each stage's parameters, by dotted path. */
function leaves(r: RunRecord): Map<string, Json> {
  const out = new Map<string, Json>();
  flatten(r.config, '', out);
  for (const [name, s] of Object.entries(r.stages)) flatten(s.components.params, `stages.${name}.with`, out);
  return out;
}

/**
 * Paths whose values are not all equal. A stage parameter is dropped when the changed config
 * values already explain it (runs with equal config values have equal stage values): it is
 * derived from them, e.g. a command line with ${{ config.lr }} in it.
 */
function changed(all: Map<string, Json>[]): string[] {
  const keys = [...new Set(all.flatMap((m) => [...m.keys()]))];
  const column = (k: string) => all.map((m) => canonicalJson(m.get(k) ?? null));
  const differ = keys.filter((k) => new Set(column(k)).size > 1);
  const config = differ.filter((k) => !k.startsWith('stages.'));
  const configTuple = all.map((_, i) => config.map((k) => column(k)[i]).join('\u0000'));
  const explained = (k: string) => {
    const seen = new Map<string, string>();
    return column(k).every((v, i) => (seen.get(configTuple[i]!) ?? (seen.set(configTuple[i]!, v), v)) === v);
  };
  return differ.filter((k) => !k.startsWith('stages.') || config.length === 0 || !explained(k)).sort();
}

function numericMetrics(r: RunRecord): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(r.stages)) {
    if (s.kind === 'doctor') continue;
    for (const [k, v] of Object.entries(s.metrics ?? {})) if (typeof v === 'number' && Number.isFinite(v)) out[`${name}.${k}`] = v;
  }
  return out;
}

const isLowerBetter = (m: string) => /loss|error|seconds|far\b/.test(m);

function pickMetrics(rows: Record<string, number>[], wanted?: string[]): string[] {
  const all = [...new Set(rows.flatMap((r) => Object.keys(r)))].sort();
  if (wanted?.length) return all.filter((m) => wanted.some((w) => m.includes(w)));
  const focus = all.filter((m) => /_accuracy$/.test(m) || /^train\.loss$|\.loss$/.test(m));
  return focus.length > 0 ? focus : all;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const popStd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

export function compareRuns(records: RunRecord[], o: { metrics?: string[]; sort?: string; groupSeeds?: boolean } = {}): Comparison {
  const all = records.map(leaves);
  const params = changed(all);
  const replicates = o.groupSeeds === false ? [] : params.filter((p) => /(^|\.)seed$/.test(p));
  const shown = params.filter((p) => !replicates.includes(p));
  const perRun = records.map(numericMetrics);
  const metrics = pickMetrics(perRun, o.metrics);
  const groups = new Map<string, number[]>();
  records.forEach((_, i) => {
    const k = canonicalJson(shown.map((p) => all[i]!.get(p) ?? null));
    groups.set(k, [...(groups.get(k) ?? []), i]);
  });
  const rows: Row[] = [...groups.values()].map((idx) => {
    const first = idx[0]!;
    const row: Row = {
      label: idx.length === 1 ? runLabel(records[first]!) : `${idx.length} runs`,
      runs: idx.map((i) => `${records[i]!.pipeline}/${records[i]!.id}`),
      params: Object.fromEntries(shown.map((p) => [p, all[first]!.get(p) ?? null])),
      metrics: {},
    };
    for (const m of metrics) {
      const xs = idx.map((i) => perRun[i]![m]).filter((x): x is number => x !== undefined);
      if (xs.length === 0) continue;
      row.metrics[m] = mean(xs);
      if (idx.length > 1) (row.std ??= {})[m] = popStd(xs);
    }
    return row;
  });
  const sortBy = o.sort ? metrics.find((m) => m.includes(o.sort!)) : metrics[0];
  if (sortBy) {
    const dir = isLowerBetter(sortBy) ? 1 : -1;
    rows.sort((a, b) => dir * ((a.metrics[sortBy] ?? Infinity * -dir) - (b.metrics[sortBy] ?? Infinity * -dir)));
  }
  return { params: shown, metrics, rows, replicates, sortBy, lowerIsBetter: Object.fromEntries(metrics.map((m) => [m, isLowerBetter(m)])) };
}

function runLabel(r: RunRecord): string {
  return r.sweep ? `trial ${r.sweep.trial + 1}/${r.sweep.trials}` : r.id;
}

/** Per metric, the best value among the rows. */
export function bestValues(c: Comparison): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of c.metrics) {
    const xs = c.rows.map((r) => r.metrics[m]).filter((x): x is number => x !== undefined);
    if (xs.length) out[m] = c.lowerIsBetter[m] ? Math.min(...xs) : Math.max(...xs);
  }
  return out;
}
