// Batch normalisation over the last (channel) axis, NHWC or (N, C), MXNet conventions: eps 2e-5,
// momentum 0.9 with moving = momentum·moving + (1 − momentum)·batch, biased batch variance.
//
// training: normalise with the batch's statistics and update the moving averages (during the
// forward, as Keras does in eager mode); inference: normalise with the moving averages, no update.
import type { Tensor, Tensor1D, Tensor4D, Variable } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { NormConfig } from './config.js';
import { fusedBatchNorm, type BatchStats, type Correction } from './fused-bn.js';
import type { Ctx, ForwardOptions } from './kernels.js';
import { stopGradient } from './ops.js';
import type { ParamSpec } from './params.js';

export type BatchNormConfig = Extract<NormConfig, { kind: 'batch' }>;

export interface AffineOpts {
  /** Learn γ; false for the embedding's last BN (the original's scale=False, insightface's
   *  fixed weight 1). */
  scale: boolean;
}

const vec = (name: string, c: number, role: ParamSpec['role'], value: number): ParamSpec =>
  ({ name, shape: [c], role, init: { kind: 'const', value } });

export function affineParams(name: string, c: number, o: AffineOpts): ParamSpec[] {
  return [...(o.scale ? [vec(`${name}/gamma`, c, 'gamma', 1)] : []), vec(`${name}/beta`, c, 'beta', 0)];
}

export function bnParams(name: string, c: number, o: AffineOpts): ParamSpec[] {
  return [...affineParams(name, c, o), vec(`${name}/moving_mean`, c, 'state', 0), vec(`${name}/moving_variance`, c, 'state', 1)];
}

export interface Affine {
  gamma?: Variable;
  beta: Variable;
}

export const affineOf = (ctx: Ctx, name: string, o: AffineOpts): Affine => ({
  ...(o.scale ? { gamma: ctx.p.get(`${name}/gamma`) } : {}),
  beta: ctx.p.get(`${name}/beta`),
});

/** γ, or ones without one: tf.batchNorm's gradient crashes on an absent scale (tfjs 4.22 saves
 *  `undefined` for the backward pass). */
export const scaleOf = (tf: Tf, a: Affine): Tensor => a.gamma ?? tf.ones(a.beta.shape);

/** v ← momentum·v + (1 − momentum)·value. */
export function ema(tf: Tf, v: Variable, value: Tensor, momentum: number): void {
  tf.tidy(() => { v.assign(tf.add(tf.mul(v, momentum), tf.mul(value, 1 - momentum))); });
}

/** Normalises with batch statistics; the caller gets the statistics and must dispose them.
 *  `correct` (renorm) rescales the normalised values by constants r, d. */
export function batchStatsNorm(ctx: Ctx, x: Tensor, a: Affine, eps: number, correct?: Correction): { y: Tensor } & BatchStats {
  const { tf } = ctx;
  const c = x.shape[x.rank - 1]!;
  if (ctx.k.choice.bn === 'fused' && ctx.k.nat) {
    const x4 = x.rank === 4 ? (x as Tensor4D) : tf.reshape(x, [-1, 1, 1, c]) as Tensor4D;
    const out = fusedBatchNorm(tf, ctx.k.nat, x4, scaleOf(tf, a) as Tensor1D, a.beta as Tensor1D, eps, correct);
    return { ...out, y: x.rank === 4 ? out.y : tf.reshape(out.y, x.shape) };
  }
  const axes = [...Array(x.rank - 1).keys()];
  const m = tf.moments(x, axes);
  // Copies the gradient does not flow through: r and d are constants (Keras stop_gradient), and
  // the moving averages are not part of the loss.
  const stats = { mean: tf.keep(stopGradient(tf, m.mean) as Tensor1D), variance: tf.keep(stopGradient(tf, m.variance) as Tensor1D) };
  let scale = scaleOf(tf, a);
  let offset: Tensor = a.beta;
  if (correct) {
    const { r, d } = correct(stats);
    offset = tf.add(a.beta, tf.mul(scale, d));
    scale = tf.mul(scale, r);
  }
  // m.mean / m.variance carry the gradient through the batch statistics.
  const y = tf.batchNorm(x, m.mean, m.variance, offset, scale, eps);
  return { y, ...stats };
}

/** Training-mode batch norm (or renorm) split for a caller that runs the normalisation itself
 *  (trunk.ts): the affine parameters, renorm's correction, and the moving-statistics update. */
export interface NormTraining {
  affine: Affine;
  eps: number;
  correct?: Correction;
  /** Folds the batch's statistics into the moving ones (call once per training forward). */
  update(stats: BatchStats): void;
}

export function bnTraining(ctx: Ctx, name: string, cfg: BatchNormConfig, o: AffineOpts): NormTraining {
  const { tf, p } = ctx;
  return {
    affine: affineOf(ctx, name, o),
    eps: cfg.eps,
    update: ({ mean, variance }) => {
      ema(tf, p.get(`${name}/moving_mean`), mean, cfg.momentum);
      ema(tf, p.get(`${name}/moving_variance`), variance, cfg.momentum);
    },
  };
}

/** Normalises with batch statistics and updates the moving ones (`t` from bnTraining / renormTraining). */
export function trainingNorm(ctx: Ctx, t: NormTraining, x: Tensor): Tensor {
  const { y, mean, variance } = batchStatsNorm(ctx, x, t.affine, t.eps, t.correct);
  try {
    t.update({ mean, variance });
  } finally {
    ctx.tf.dispose([mean, variance]);
  }
  return y;
}

export function bnForward(ctx: Ctx, name: string, cfg: BatchNormConfig, x: Tensor, f: ForwardOptions, o: AffineOpts): Tensor {
  const { tf, p } = ctx;
  if (f.training) return trainingNorm(ctx, bnTraining(ctx, name, cfg, o), x);
  const a = affineOf(ctx, name, o);
  return tf.batchNorm(x, p.get(`${name}/moving_mean`), p.get(`${name}/moving_variance`), a.beta, scaleOf(tf, a), cfg.eps);
}
