// Fake but realistic stage outputs for the report tests: what train and evaluate write, with
// smooth ROC curves and training curves, and run records pointing at them — no training needed.
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface FakeSet {
  accuracy: number;
  std: number;
  /** Separation of the genuine and impostor distance distributions: larger is a better ROC. */
  separation?: number;
  /** Leave out <name>.roc.json. */
  noRoc?: boolean;
}

/** Φ, the standard normal CDF (Abramowitz–Stegun 7.1.26: plenty for a picture). */
function phi(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

/** insightface's ROC over distance thresholds 0..4 step 0.01, FAR quantised as 3000 impostor pairs would. */
export function fakeRoc(separation: number): { thresholds: number[]; tpr: number[]; fpr: number[] } {
  const thresholds = Array.from({ length: 400 }, (_, i) => i / 100);
  const tpr = thresholds.map((t) => phi((t - 0.9) / 0.2));
  const fpr = thresholds.map((t) => Math.floor(phi((t - 0.9 - separation) / 0.2) * 3000) / 3000);
  return { thresholds, tpr, fpr };
}

export async function writeEvaluate(dir: string, sets: Record<string, FakeSet>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const datasets: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(sets)) {
    datasets[name] = { pairs: 6000, accuracy: s.accuracy, std: s.std, xnorm: 21.5 + s.accuracy, val: s.accuracy - 0.05, val_std: 0.0123, far: 0.001, thresholds: Array(10).fill(1.4), folds: Array(10).fill(s.accuracy) };
    if (!s.noRoc) await writeFile(path.join(dir, `${name}.roc.json`), JSON.stringify(fakeRoc(s.separation ?? 0.9)));
  }
  await writeFile(path.join(dir, 'metrics.json'), JSON.stringify({ channels: 'rgb', size: 112, datasets }, null, 2));
}

export interface FakeTrain {
  steps?: number;
  /** Scales the loss curve, so two runs look different. */
  speed?: number;
  norm?: 'batch' | 'renorm';
  batchSize?: number;
}

export async function writeTrain(dir: string, o: FakeTrain = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const steps = o.steps ?? 2000;
  const speed = o.speed ?? 1;
  const lines: string[] = [];
  for (let step = 20; step <= steps; step += 20) {
    const inference = 14 * Math.exp((-step * speed) / 400) + 0.3 + 0.15 * Math.sin(step / 37);
    const reg = 0.8 + 0.3 * (1 - Math.exp(-step / 300));
    const lr = step < 1000 ? 0.1 : step < 1600 ? 0.01 : 0.001;
    lines.push(JSON.stringify({ step, loss: inference + reg, inference_loss: inference, regularization_loss: reg, accuracy: 1 - Math.exp((-step * speed) / 500), accuracy_cos: 1 - 0.5 * Math.exp((-step * speed) / 300), lr, images_per_second: 250 + 20 * Math.sin(step / 90), reg_coef: 1 }));
  }
  await writeFile(path.join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  const norm = o.norm === 'renorm' ? { kind: 'renorm', eps: 2e-5, momentum: 0.9, renormMomentum: 0.9, rmax: 3, rmin: 0.3333, dmax: 5, warmupSteps: 0 } : { kind: 'batch', eps: 2e-5, momentum: 0.9 };
  const config = {
    model: {
      backbone: { depth: 50, widths: [64, 128, 256, 512], stem: 64, inputSize: 112, embedding: 512, dropout: 0.4, norm, prelu: { kind: 'element', init: 0 }, init: 'original' },
      head: { classes: 10572, margin: { kind: 'arcface', s: 64, m: 0.5 }, init: 'original' },
      regularization: { kind: 'l2', coef: 5e-4, roles: ['kernel', 'classes', 'gamma', 'alpha', 'bias'] },
    },
    sgd: { momentum: 0.9, weightDecay: 0 },
    lr: { kind: 'piecewise', initial: 0.1, boundaries: [1000, 1600], factor: 0.1 },
    regDecay: 0.8,
    steps,
    batchSize: o.batchSize ?? 96,
    accumulate: 1,
    seed: 0,
    input: { flip: true, bgr: false, shuffleBuffer: 10000, shuffleShards: true },
    checkpoint: { every: 1000, keep: 3 },
    logEvery: 20,
  };
  const backend = { backend: 'tensorflow', package: '@tensorflow/tfjs-node', location: 'facepipe-cache', path: '/cache/tfjs-node', gpu: false, tfjsVersion: '4.22.0', tensorflowVersion: '2.21.0', threads: { interOp: 1, onednn: true } };
  const last = { loss: 1.25, inferenceLoss: 0.31, regularizationLoss: 0.94, accuracy: 0.97, accuracyCos: 1 };
  await writeFile(path.join(dir, 'train.json'), JSON.stringify({ steps, resumedAt: null, seconds: 754.2, imagesPerSecond: 254.6, inputWaitSeconds: 1.2, last, regCoef: 0.8, backend, config, pixels: { channels: 'rgb', size: 112 } }, null, 2));
}

export interface FakeRun {
  pipeline: string;
  id: string;
  sets: Record<string, FakeSet>;
  train?: FakeTrain;
  /** Status recorded for the evaluate stage (default 'ran'). */
  evaluateStatus?: 'ran' | 'cached' | 'failed';
  /** Also write runs/<pipeline>/<id>/outputs/<stage> links, as the runner does. */
  links?: boolean;
}

/** A run record under `runsDir` whose stages' outputs live in `runsDir/.store/<id>/<stage>`. */
export async function writeRun(runsDir: string, r: FakeRun): Promise<string> {
  const runDir = path.join(runsDir, r.pipeline, r.id);
  const store = path.join(runsDir, '.store', r.id);
  await writeEvaluate(path.join(store, 'evaluate'), r.sets);
  if (r.train) await writeTrain(path.join(store, 'train'), r.train);
  const stage = (kind: string, status: string, upstream: Record<string, string>) => ({ kind, key: `${kind}-${r.id}`, components: { format: 1, kind, kindVersion: '1', params: {}, upstream, inputs: {} }, status, reasons: [], outDir: path.join(store, kind) });
  const stages: Record<string, unknown> = {};
  if (r.train) stages.train = stage('train', 'ran', {});
  stages.evaluate = stage('evaluate', r.evaluateStatus ?? 'ran', r.train ? { train: `train-${r.id}` } : {});
  const record = { format: 1, id: r.id, pipeline: r.pipeline, file: `${r.pipeline}.yaml`, argv: [], startedAt: '2026-01-01T00:00:00.000Z', status: 'succeeded', config: {}, inputs: { filesHashed: 0, bytesHashed: 0, cacheHits: 0 }, stages, environment: {} };
  await mkdir(runDir, { recursive: true });
  await writeFile(path.join(runDir, 'run.json'), JSON.stringify(record, null, 2));
  if (r.links) {
    await mkdir(path.join(runDir, 'outputs'), { recursive: true });
    for (const s of Object.keys(stages)) await symlink(path.relative(path.join(runDir, 'outputs'), path.join(store, s)), path.join(runDir, 'outputs', s));
  }
  // The newest run written is `latest`, as after a real run.
  await rm(path.join(runsDir, r.pipeline, 'latest'), { force: true });
  await symlink(r.id, path.join(runsDir, r.pipeline, 'latest'));
  return runDir;
}

/** Extracts each `<figure id="chart-…">`'s inline SVG from report.html. */
export function figures(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<figure id="chart-([^"]+)">(<svg[\s\S]*?<\/svg>)<\/figure>/g)) out.set(m[1]!, m[2]!);
  return out;
}

/** The drawn lines of a Vega SVG: path data of its line marks. */
export function linePaths(svg: string): string[] {
  const out: string[] = [];
  for (const g of svg.matchAll(/<g class="mark-line role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g)) for (const p of g[1]!.matchAll(/<path[^>]* d="(M[^"]+)"/g)) out.push(p[1]!);
  return out;
}
