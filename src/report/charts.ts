// The report's charts: Vega-Lite specs compiled and rendered to SVG here in Node (vega's headless
// 'none' renderer), so the HTML carries finished pictures and needs no script or network to show.
import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { LoggedStep } from './collect.js';
import type { ReportRun } from './model.js';

export interface Chart {
  /** File-name-safe id: charts/<id>.svg. */
  id: string;
  title: string;
  /** A standalone SVG document (with its xmlns, so it also works as an image file). */
  svg: string;
}

const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif';
// Tableau 10: distinct hues that stay apart for colour-blind readers, in its own order.
const PALETTE = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];
// The whole picture, titles and legends included (autosize 'fit'): every chart has the same size
// and scales the same in the page's grid.
const WIDTH = 440;
const HEIGHT = 300;
/** Points per line: a long training run logs 100k steps, which would make megabyte paths no eye can tell from 500 points. */
const MAX_POINTS = 500;

const CONFIG = {
  font: FONT,
  background: 'white',
  padding: 8,
  autosize: { type: 'fit', contains: 'padding' },
  view: { stroke: null },
  // Limits keep every text inside the fitted box: an overlong title or legend would shrink the plot instead.
  title: { anchor: 'start', fontSize: 14, fontWeight: 600, color: '#1f2933', subtitleColor: '#616e7c', subtitleFontSize: 11, offset: 10, limit: WIDTH - 24 },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: 500, labelColor: '#3e4c59', titleColor: '#3e4c59', gridColor: '#eceff1', domainColor: '#9aa5b1', tickColor: '#9aa5b1' },
  axisX: { titleLimit: WIDTH - 80 },
  axisY: { titleLimit: HEIGHT - 100 },
  legend: { orient: 'bottom', direction: 'horizontal', columns: 3, labelFontSize: 11, titleFontSize: 11, titleColor: '#3e4c59', labelColor: '#3e4c59', symbolStrokeWidth: 2.5, labelLimit: 120, columnPadding: 12, padding: 0, offset: 12 },
  range: { category: PALETTE },
  line: { strokeWidth: 1.75, strokeJoin: 'round', strokeCap: 'round' },
} as const;

/**
 * Renders a Vega-Lite spec (with the report's look) to an SVG string. Compiler errors throw (a bug
 * in a spec here); its warnings would only reach the user's terminal as noise, so they are dropped.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const quiet = {
    level: () => quiet,
    error: (...a: unknown[]) => {
      throw new Error(`vega-lite: ${a.join(' ')}`);
    },
    warn: () => quiet,
    info: () => quiet,
    debug: () => quiet,
  };
  const vgSpec = compile({ ...spec, config: CONFIG } as TopLevelSpec, { logger: quiet as never }).spec;
  const view = new View(parse(vgSpec), { renderer: 'none' });
  view.logLevel(0);
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * For inlining in HTML: no namespace declarations (inline SVG needs none, and they are the only
 * URLs vega writes), and element ids prefixed with the chart's id — ids are document-wide, and
 * every vega SVG names its clip paths clip1, clip2, … so the charts would clip each other.
 */
export function inlineSvg(chart: Chart): string {
  const label = chart.title.replace(/[&"<>]/g, '');
  return chart.svg
    .replace(/^<svg\b[^>]*>/, (open) => open.replace(/\s+xmlns(:\w+)?="[^"]*"/g, '').replace(/^<svg/, `<svg role="img" aria-label="${label}"`))
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${chart.id}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${chart.id}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${chart.id}-${id}"`);
}

function thin<T>(rows: T[]): T[] {
  if (rows.length <= MAX_POINTS) return rows;
  const stride = Math.ceil(rows.length / MAX_POINTS);
  return rows.filter((_, i) => i % stride === 0 || i === rows.length - 1);
}

const colour = (labels: string[]) => ({ field: 'run', type: 'nominal', title: 'run', scale: { domain: labels } }) as const;

/**
 * ROC of one dataset, one line per run, FPR on a log axis (the customary view: the region of
 * small false-accept rates is the one that matters). FPR = 0 has no place on a log axis: those
 * points are left out, and the axis starts at the decade below the smallest non-zero FPR.
 */
export async function rocChart(dataset: string, runs: ReportRun[]): Promise<Chart | undefined> {
  const rows: { run: string; fpr: number; tpr: number; i: number }[] = [];
  for (const r of runs) {
    const roc = r.evaluate.roc[dataset];
    if (!roc) continue;
    // Sorted rather than trusting the threshold order; repeated points (the long tail at (1, 1)) drawn once.
    const pts = roc.fpr
      .map((fpr, k) => ({ fpr, tpr: roc.tpr[k]! }))
      .filter((p) => p.fpr > 0)
      .sort((a, b) => a.fpr - b.fpr || a.tpr - b.tpr)
      .filter((p, k, all) => k === 0 || p.fpr !== all[k - 1]!.fpr || p.tpr !== all[k - 1]!.tpr);
    thin(pts).forEach((p, i) => rows.push({ run: r.label, ...p, i }));
  }
  if (rows.length === 0) return undefined;
  const floor = 10 ** Math.floor(Math.log10(Math.min(...rows.map((p) => p.fpr))));
  const labels = runs.filter((r) => r.evaluate.roc[dataset]).map((r) => r.label);
  const title = `ROC — ${dataset}`;
  const spec = {
    title: { text: title, subtitle: floor < 1e-3 ? 'TAR against FAR; dashed: FAR = 1e-3 (VAL)' : 'TAR against FAR' },
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'line', clip: true },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false positive rate (log scale)', scale: { type: 'log', domain: [floor, 1] }, axis: { format: '~e', labelExpr: "datum.value >= 1 ? '1' : datum.label" } },
          y: { field: 'tpr', type: 'quantitative', title: 'true positive rate', scale: { domain: [0, 1] } },
          color: colour(labels),
          order: { field: 'i', type: 'quantitative' },
        },
      },
      ...(floor < 1e-3 ? [{ mark: { type: 'rule', strokeDash: [4, 4], color: '#9aa5b1' }, encoding: { x: { datum: 1e-3 } } }] : []),
    ],
  };
  return { id: `roc-${safeId(dataset)}`, title, svg: await renderSvg(spec as unknown as TopLevelSpec) };
}

interface Curve {
  id: string;
  title: string;
  subtitle?: string;
  yTitle: string;
  /** metrics.jsonl field → what to call the line when a chart has more than one per run. */
  series: [string, string][];
}

const CURVES: Curve[] = [
  { id: 'loss', title: 'Training loss', subtitle: 'inference + regularization', yTitle: 'loss', series: [['loss', 'total']] },
  { id: 'inference-loss', title: 'Inference loss', subtitle: 'the margin softmax cross-entropy', yTitle: 'cross-entropy', series: [['inference_loss', 'inference']] },
  { id: 'regularization-loss', title: 'Regularization loss', subtitle: 'the L2 penalty on the weights', yTitle: 'L2 penalty', series: [['regularization_loss', 'regularization']] },
  { id: 'train-accuracy', title: 'Train accuracy', subtitle: 'on each batch; dashed: cosine logits, no margin', yTitle: 'accuracy', series: [['accuracy', 'margin'], ['accuracy_cos', 'cosine']] },
  { id: 'lr', title: 'Learning rate', yTitle: 'learning rate', series: [['lr', 'lr']] },
  { id: 'throughput', title: 'Throughput', yTitle: 'images / s', series: [['images_per_second', 'images/s']] },
];

/** The training curves against the step, one line per run (and per series where a chart has two). */
export async function trainingCharts(runs: ReportRun[]): Promise<Chart[]> {
  const trained = runs.filter((r) => r.train && r.train.steps.length > 0);
  const charts: Chart[] = [];
  for (const c of CURVES) {
    const rows: { run: string; series: string; step: number; value: number }[] = [];
    for (const r of trained) for (const [field, name] of c.series) rows.push(...thin(points(r.train!.steps, field)).map((p) => ({ run: r.label, series: name, ...p })));
    if (rows.length === 0) continue;
    const labels = trained.map((r) => r.label);
    const dashed = c.series.length > 1;
    const spec = {
      title: { text: c.title, ...(c.subtitle ? { subtitle: c.subtitle } : {}) },
      width: WIDTH,
      height: HEIGHT,
      data: { values: rows },
      mark: { type: 'line', clip: true },
      encoding: {
        // SI suffixes only where they help: '0.2k' for step 200 reads worse than '200'.
        x: { field: 'step', type: 'quantitative', title: 'step', axis: { format: Math.max(...rows.map((p) => p.step)) >= 10_000 ? '~s' : ',d' } },
        y: { field: 'value', type: 'quantitative', title: c.yTitle, scale: { zero: false } },
        color: colour(labels),
        detail: { field: 'series' },
        ...(dashed ? { strokeDash: { field: 'series', type: 'nominal', title: 'logits', scale: { domain: c.series.map(([, n]) => n), range: [[1, 0], [5, 3]] } } } : {}),
      },
    };
    charts.push({ id: c.id, title: c.title, svg: await renderSvg(spec as unknown as TopLevelSpec) });
  }
  return charts;
}

function points(steps: LoggedStep[], field: string): { step: number; value: number }[] {
  return steps.filter((s) => typeof s[field] === 'number').map((s) => ({ step: s.step, value: s[field]! }));
}

function safeId(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}
