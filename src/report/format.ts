// How the report writes numbers and configurations. Accuracies follow insightface's log lines
// (`%1.5f+-%1.5f`, XNorm `%f`, `VAL=%2.5f+-%2.5f @ FAR=%2.5f`) so they can be compared with
// published logs digit for digit.
import type { HeadConfig, NormConfig, RegularizationConfig } from '../model/config.js';
import type { LrSchedule } from '../train/schedule.js';
import type { SetResult, TrainSummary } from './collect.js';

/** insightface's `%1.5f+-%1.5f`. */
export const accuracyPm = (mean: number, std: number): string => `${mean.toFixed(5)}+-${std.toFixed(5)}`;

/** insightface's XNorm: `%f`. */
export const xnorm = (x: number): string => x.toFixed(6);

/** "128", "128 × 3 accumulated = 384", "3 replicas × 128 = 384", "2 replicas × 64 × 3 accumulated = 384". */
export function batch(size: number, replicas: number, accumulate: number): string {
  if (replicas === 1 && accumulate === 1) return String(size);
  return `${replicas > 1 ? `${replicas} replicas × ` : ''}${size}${accumulate > 1 ? ` × ${accumulate} accumulated` : ''} = ${size * replicas * accumulate}`;
}

/** insightface's `VAL=%2.5f+-%2.5f @ FAR=%2.5f`, or a dash when VAL@FAR is undefined for the set. */
export function valAtFar(s: SetResult): string {
  if (s.val === null || s.far === null) return '—';
  return `${s.val.toFixed(5)}+-${(s.val_std ?? 0).toFixed(5)} @ FAR=${s.far.toFixed(5)}`;
}

/** Ours − published, signed, at the published precision (4 decimals). */
export const delta = (d: number): string => `${d >= 0 ? '+' : '-'}${Math.abs(d).toFixed(4)}`;

export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${seconds.toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min ${String(s % 60).padStart(2, '0')} s`;
}

/** Short, exact enough for hyperparameters: 0.00025 → 2.5e-4, 0.1 → 0.1. */
export function short(x: number): string {
  if (x !== 0 && Math.abs(x) < 1e-3) return x.toExponential();
  return String(Number(x.toPrecision(6)));
}

function norm(n: NormConfig): string {
  switch (n.kind) {
    case 'batch':
      return `batch norm (eps ${short(n.eps)}, momentum ${short(n.momentum)})`;
    case 'renorm':
      return `batch renorm (rmax ${short(n.rmax)}, rmin ${short(n.rmin)}, dmax ${short(n.dmax)}${n.warmupSteps ? `, warm-up ${n.warmupSteps} steps` : ''})`;
    case 'group':
      return `group norm (${n.groups} groups)`;
  }
}

function lr(l: LrSchedule): string {
  switch (l.kind) {
    case 'constant':
      return `constant ${short(l.initial)}`;
    case 'piecewise':
      return l.boundaries.length ? `piecewise ${short(l.initial)}, ×${short(l.factor)} at steps ${l.boundaries.join(', ')}` : `constant ${short(l.initial)}`;
    case 'poly':
      return `poly ${short(l.initial)} → ${short(l.end)} (power ${short(l.power)}${l.warmupSteps ? `, ${l.warmupSteps} warm-up steps` : ''})`;
  }
}

function head(h: HeadConfig | undefined): string {
  if (!h) return 'none';
  const m = h.margin;
  const margin =
    m.kind === 'softmax' ? 'softmax' : m.kind === 'combined' ? `combined margin s=${short(m.s)}, m1=${short(m.m1)}, m2=${short(m.m2)}, m3=${short(m.m3)}` : `${m.kind === 'arcface' ? 'ArcFace' : 'CosFace'} s=${short(m.s)}, m=${short(m.m)}`;
  return `${margin}, ${h.classes} classes`;
}

function regularization(r: RegularizationConfig): string {
  return r.kind === 'none' ? 'none' : `L2 ${short(r.coef)} on ${r.roles.join(', ')}`;
}

/** The configuration summary of one training run, as (label, value) rows. */
export function configRows(t: TrainSummary): [string, string][] {
  const rows: [string, string][] = [];
  const c = t.config;
  if (c) {
    const b = c.model.backbone;
    rows.push(
      ['backbone', `IR-ResNet-${b.depth}, widths ${b.widths.join('/')}, stem ${b.stem}`],
      ['input', `${b.inputSize}×${b.inputSize} ${c.input.bgr ? 'BGR' : 'RGB'}${c.input.flip ? ', random flips' : ''}`],
      ['embedding', `${b.embedding}${b.dropout ? `, dropout ${short(b.dropout)}` : ''}`],
      ['normalisation', norm(b.norm)],
      ['PReLU', b.prelu.kind === 'channel' ? 'per channel' : 'per element'],
      ['head', head(c.model.head)],
      ['regularization', regularization(c.model.regularization) + (c.regDecay !== undefined ? `, decaying ×${short(c.regDecay)}` : '')],
      ['optimizer', `SGD, momentum ${short(c.sgd.momentum)}${c.sgd.weightDecay ? `, weight decay ${short(c.sgd.weightDecay)}` : ''}`],
      ['learning rate', lr(c.lr)],
      ['batch', batch(c.batchSize, c.replicas ?? 1, c.accumulate)],
      ['seed', String(c.seed)],
    );
  }
  rows.push(['steps', String(t.steps)]);
  if (t.seconds !== null) rows.push(['training time', duration(t.seconds) + (t.imagesPerSecond !== null ? `, ${t.imagesPerSecond.toFixed(1)} images/s` : '')]);
  const l = t.last;
  if (l?.loss !== undefined) rows.push(['final loss', `${l.loss.toFixed(4)}${l.inferenceLoss !== undefined && l.regularizationLoss !== undefined ? ` (inference ${l.inferenceLoss.toFixed(4)} + regularization ${l.regularizationLoss.toFixed(4)})` : ''}`]);
  if (l?.accuracy !== undefined) rows.push(['final train accuracy', `${l.accuracy.toFixed(4)}${l.accuracyCos !== undefined ? ` (cosine ${l.accuracyCos.toFixed(4)})` : ''}`]);
  return rows;
}

/** Backend and versions of one training run, as (label, value) rows. */
export function backendRows(t: TrainSummary): [string, string][] {
  const b = t.backend;
  if (!b) return [['backend', 'not recorded']];
  return [
    ['backend', `${b.backend}${b.gpu ? ' (GPU)' : ' (CPU)'}`],
    ['package', `${b.package} ${b.tfjsVersion}${b.location === 'facepipe-cache' ? ' (facepipe-built native binding)' : ''}`],
    ['TensorFlow', b.tensorflowVersion ?? '— (pure JavaScript)'],
    ['threads', [b.threads.intraOp !== undefined ? `intra-op ${b.threads.intraOp}` : '', b.threads.interOp !== undefined ? `inter-op ${b.threads.interOp}` : '', b.threads.onednn ? 'oneDNN' : ''].filter(Boolean).join(', ') || 'default'],
  ];
}
