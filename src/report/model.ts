// The numbers a report shows, computed once from the collected outputs: the HTML, the Markdown and
// report.json are all renderings of this one object, so they cannot disagree.
import { facepipeVersion } from '../paths.js';
import type { EvaluateOutput, SetResult, TrainOutput } from './collect.js';
import { backendRows, configRows } from './format.js';
import { REFERENCES, type Reference, type ReferenceName } from './reference.js';

/** One evaluated model: a run's evaluate output and, when known, the training behind it. */
export interface ReportRun {
  label: string;
  /** Where it came from, for the reader (run record or plain folders). */
  source: { pipeline?: string; runId?: string; runDir?: string; evaluateStage?: string; trainStage?: string };
  evaluate: EvaluateOutput;
  train?: TrainOutput;
  /** The published model this run reproduces, when it is not the report's `reference`. */
  reference?: ReferenceName;
}

export interface ReportInput {
  title: string;
  runs: ReportRun[];
  /** The published model every run is compared with (unless a run names its own). */
  reference?: ReferenceName;
}

export interface RunNumbers {
  label: string;
  source: ReportRun['source'];
  /** The published model this run is compared with, if any. */
  reference: ReferenceName | null;
  evaluate: { dir: string; size: number | null; channels: string | null; datasets: Record<string, SetResult> };
  train: { dir: string; steps: number; seconds: number | null; imagesPerSecond: number | null; config: [string, string][]; backend: [string, string][] } | null;
}

/** report.json. */
export interface ReportData {
  format: 1;
  /** Marks a folder as holding a facepipe report (see commands/report.ts). */
  generator: 'facepipe report';
  facepipe: string;
  title: string;
  /** Rows of the accuracy table: evaluated sets in order, then published ones not evaluated. */
  datasets: string[];
  /** The best accuracy per evaluated dataset, across runs (first run wins a tie). */
  best: { dataset: string; run: string; accuracy: number; std: number }[];
  runs: RunNumbers[];
  /** The published models the runs are compared with, in order of first use. */
  references: Reference[];
  /** Per run label, per dataset both sides have: ours − the run's published accuracy. */
  deltas: Record<string, Record<string, number>>;
}

export const REPORT_GENERATOR = 'facepipe report';

export function buildReport(input: ReportInput): ReportData {
  if (input.runs.length === 0) throw new Error('buildReport: no runs');
  const labels = input.runs.map((r) => r.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup) throw new Error(`buildReport: two runs are labelled '${dup}'`);
  const evaluated: string[] = [];
  for (const r of input.runs) for (const d of Object.keys(r.evaluate.datasets)) if (!evaluated.includes(d)) evaluated.push(d);
  const refs = input.runs.map((r) => {
    const name = r.reference ?? input.reference;
    return name ? REFERENCES[name] : undefined;
  });
  const references = [...new Set(refs.filter((x): x is Reference => x !== undefined))];
  const published = references.flatMap((r) => Object.keys(r.accuracy));
  const datasets = [...evaluated, ...published.filter((d, i) => !evaluated.includes(d) && published.indexOf(d) === i)];
  return {
    format: 1,
    generator: REPORT_GENERATOR,
    facepipe: facepipeVersion,
    title: input.title,
    datasets,
    best: evaluated.map((d) => best(input.runs, d)),
    runs: input.runs.map((r, i) => runNumbers(r, refs[i])),
    references,
    deltas: Object.fromEntries(input.runs.flatMap((r, i) => (refs[i] ? [[r.label, deltas(r, refs[i]!)]] : []))),
  };
}

function best(runs: ReportRun[], dataset: string): ReportData['best'][number] {
  let top: ReportData['best'][number] | undefined;
  for (const r of runs) {
    const s = r.evaluate.datasets[dataset];
    if (s && (!top || s.accuracy > top.accuracy)) top = { dataset, run: r.label, accuracy: s.accuracy, std: s.std };
  }
  return top!;
}

/** Per dataset both sides have: ours − published. */
function deltas(r: ReportRun, ref: Reference): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [d, published] of Object.entries(ref.accuracy)) {
    const ours = r.evaluate.datasets[d];
    if (ours) out[d] = ours.accuracy - published;
  }
  return out;
}

function runNumbers(r: ReportRun, ref: Reference | undefined): RunNumbers {
  const e = r.evaluate;
  const t = r.train;
  return {
    label: r.label,
    source: r.source,
    reference: ref?.name ?? null,
    evaluate: { dir: e.dir, size: e.size, channels: e.channels, datasets: e.datasets },
    train: t ? { dir: t.dir, steps: t.summary.steps, seconds: t.summary.seconds, imagesPerSecond: t.summary.imagesPerSecond, config: configRows(t.summary), backend: backendRows(t.summary) } : null,
  };
}

/**
 * Rows of a (label → value per run) table, in first-seen order; `differs` marks rows whose value
 * is not the same for every run — what a comparison is about.
 */
export function mergeRows(perRun: ([string, string][] | undefined)[]): { label: string; values: (string | undefined)[]; differs: boolean }[] {
  const labels: string[] = [];
  for (const rows of perRun) for (const [l] of rows ?? []) if (!labels.includes(l)) labels.push(l);
  return labels.map((label) => {
    const values = perRun.map((rows) => rows?.find(([l]) => l === label)?.[1]);
    return { label, values, differs: perRun.length > 1 && new Set(values).size > 1 };
  });
}
