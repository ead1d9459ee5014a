// The train stage's parameters (schemas/stages/train.schema.json) → typed configs with defaults.
// Derived values (classes from the dataset) come in separately and are never written back.
import { ALL_ROLES, NORM, REGULARIZATION, backboneConfig, type MarginConfig, type NormConfig, type ParamRole, type RegularizationConfig } from '../model/config.js';
import type { FaceModelConfig } from '../model/model.js';
import type { SgdConfig } from './optimizer.js';
import type { LrSchedule } from './schedule.js';

type RawNorm =
  | { kind: 'batch'; eps?: number; momentum?: number }
  | { kind: 'renorm'; eps?: number; momentum?: number; renorm_momentum?: number; rmax?: number; rmin?: number; dmax?: number; warmup_steps?: number }
  | { kind: 'group'; groups?: number; eps?: number };
type RawLr =
  | { kind: 'piecewise'; initial: number; boundaries?: number[]; factor?: number }
  | { kind: 'poly'; initial: number; power?: number; warmup_steps?: number; end?: number }
  | { kind: 'constant'; initial: number };

export interface TrainParams {
  data: string;
  steps: number;
  batch_size?: number;
  accumulate?: number;
  replicas?: number;
  seed?: number;
  model?: { depth?: 18 | 34 | 50 | 100; widths?: number[]; stem?: number; input_size?: number; embedding?: number; dropout?: number; norm?: RawNorm; prelu?: 'channel' | 'element'; init?: 'original' | 'insightface' };
  head?: { margin?: { kind: 'arcface' | 'cosface'; s?: number; m?: number } | { kind: 'combined'; s?: number; m1: number; m2: number; m3: number } | { kind: 'softmax' }; init?: 'original' | 'insightface' };
  regularization?: 'original' | 'insightface' | 'none' | { coef: number; roles?: ParamRole[] };
  reg_decay?: false | { factor?: number };
  optimizer?: { momentum?: number; weight_decay?: number };
  lr?: RawLr;
  input?: { flip?: boolean; channels?: 'rgb' | 'bgr'; shuffle_buffer?: number; shuffle_shards?: boolean };
  checkpoint?: { every?: number; keep?: number };
  log_every?: number;
  eval?: { every: number; bins: string[] };
}

export interface TrainConfig {
  model: FaceModelConfig;
  sgd: SgdConfig;
  lr: LrSchedule;
  /** Factor of the original's regularization-coefficient decay, or undefined when off. */
  regDecay: number | undefined;
  steps: number;
  batchSize: number;
  accumulate: number;
  /** Replica processes (one per GPU); each takes batchSize images of every micro-batch. */
  replicas: number;
  seed: number;
  input: { flip: boolean; bgr: boolean; shuffleBuffer: number; shuffleShards: boolean };
  checkpoint: { every: number; keep: number };
  logEvery: number;
}

function norm(n: RawNorm | undefined): NormConfig {
  if (!n || n.kind === 'batch') return { ...NORM.batch, ...(n?.eps !== undefined ? { eps: n.eps } : {}), ...(n?.momentum !== undefined ? { momentum: n.momentum } : {}) };
  if (n.kind === 'group') return { kind: 'group', groups: n.groups ?? NORM.group.groups, eps: n.eps ?? NORM.group.eps };
  const d = NORM.renorm;
  return { kind: 'renorm', eps: n.eps ?? d.eps, momentum: n.momentum ?? d.momentum, renormMomentum: n.renorm_momentum ?? d.renormMomentum, rmax: n.rmax ?? d.rmax, rmin: n.rmin ?? d.rmin, dmax: n.dmax ?? d.dmax, warmupSteps: n.warmup_steps ?? 0 };
}

function margin(m: NonNullable<TrainParams['head']>['margin']): MarginConfig {
  if (!m) return { kind: 'arcface', s: 64, m: 0.5 };
  if (m.kind === 'softmax') return m;
  if (m.kind === 'combined') return { kind: 'combined', s: m.s ?? 64, m1: m.m1, m2: m.m2, m3: m.m3 };
  return { kind: m.kind, s: m.s ?? 64, m: m.m ?? (m.kind === 'arcface' ? 0.5 : 0.35) };
}

function regularization(r: TrainParams['regularization']): RegularizationConfig {
  if (r === undefined || r === 'original') return REGULARIZATION.original;
  if (r === 'insightface' || r === 'none') return REGULARIZATION[r];
  return { kind: 'l2', coef: r.coef, roles: r.roles ?? ALL_ROLES };
}

function lr(l: RawLr | undefined): LrSchedule {
  if (!l) return { kind: 'constant', initial: 0.1 };
  if (l.kind === 'piecewise') return { kind: 'piecewise', initial: l.initial, boundaries: l.boundaries ?? [], factor: l.factor ?? 0.1 };
  if (l.kind === 'poly') return { kind: 'poly', initial: l.initial, power: l.power ?? 1, warmupSteps: l.warmup_steps ?? 0, end: l.end ?? 0 };
  return l;
}

/** Images per update: batch_size per micro-batch and replica × replicas × accumulate. */
export const globalBatch = (p: Pick<TrainParams, 'batch_size' | 'replicas' | 'accumulate'>): number => (p.batch_size ?? 96) * (p.replicas ?? 1) * (p.accumulate ?? 1);

export function resolveTrainConfig(p: TrainParams, classes: number): TrainConfig {
  const m = p.model ?? {};
  const prelu = m.prelu ?? 'channel';
  const init = m.init ?? 'original';
  const backbone = backboneConfig({
    ...(m.depth !== undefined ? { depth: m.depth } : {}),
    ...(m.widths ? { widths: m.widths as [number, number, number, number] } : {}),
    ...(m.stem !== undefined ? { stem: m.stem } : {}),
    ...(m.input_size !== undefined ? { inputSize: m.input_size } : {}),
    ...(m.embedding !== undefined ? { embedding: m.embedding } : {}),
    ...(m.dropout !== undefined ? { dropout: m.dropout } : {}),
    norm: norm(m.norm),
    prelu: { kind: prelu, init: prelu === 'channel' ? 0.25 : 0 },
    init,
  });
  return {
    model: { backbone, head: { classes, margin: margin(p.head?.margin), init: p.head?.init ?? init }, regularization: regularization(p.regularization) },
    sgd: { momentum: p.optimizer?.momentum ?? 0.9, weightDecay: p.optimizer?.weight_decay ?? 0 },
    lr: lr(p.lr),
    regDecay: p.reg_decay ? (p.reg_decay.factor ?? 0.8) : undefined,
    steps: p.steps,
    batchSize: p.batch_size ?? 96,
    accumulate: p.accumulate ?? 1,
    replicas: p.replicas ?? 1,
    seed: p.seed ?? 0,
    input: { flip: p.input?.flip ?? true, bgr: p.input?.channels === 'bgr', shuffleBuffer: p.input?.shuffle_buffer ?? 10_000, shuffleShards: p.input?.shuffle_shards ?? true },
    checkpoint: { every: p.checkpoint?.every ?? 1000, keep: p.checkpoint?.keep ?? 3 },
    logEvery: p.log_every ?? 10,
  };
}
