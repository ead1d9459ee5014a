// Batch renormalization (Ioffe 2017), defined exactly as Keras' BatchNormalization(renorm=True)
// (tf.keras ≥ 2.2, tf_keras, Keras 3 — read from their sources):
//
//   σ_B = √(var_B + ε)                           (var_B the biased batch variance)
//   σ_R = max(renorm_stddev, √ε)
//   r = clip(σ_B / σ_R, rmin, rmax)    d = clip((μ_B − renorm_mean) / σ_R, −dmax, dmax)
//   y = (x − μ_B)/σ_B · (γ·r) + (β + γ·d)       with r, d held constant for the gradient
// then, after r and d are computed (so they use the pre-update averages):
//   renorm_mean   ← ρ·renorm_mean   + (1 − ρ)·μ_B       ρ = renormMomentum
//   renorm_stddev ← ρ·renorm_stddev + (1 − ρ)·σ_B
//   moving_mean   ← m·moving_mean   + (1 − m)·μ_B       m = momentum
//   moving_stddev ← m·moving_stddev + (1 − m)·σ_B
//   moving_variance = relu(moving_stddev² − ε)
// Inference is plain BN with moving_mean and moving_variance. renorm_mean starts at 0,
// renorm_stddev and moving_stddev at 1 (√ of moving_variance's initial 1).
//
// TF 2.0 (which the original project ran) still had the older definition: zero-initialised renorm
// averages debiased by a weight, and moving_mean/moving_variance fed from those averages rather
// than from the batch. The two agree after the first few hundred steps; we follow current Keras.
//
// Keras keeps the clipping constant. `warmupSteps` > 0 adds the paper's relaxation, linearised:
// at step t, with a = min(t / warmupSteps, 1), rmax_t = 1 + a·(rmax − 1), rmin_t = 1 − a·(1 − rmin),
// dmax_t = a·dmax, so training starts as plain BN (r = 1, d = 0).
import type { Tensor, Tensor1D } from '@tensorflow/tfjs';
import type { NormConfig } from './config.js';
import { affineOf, bnParams, ema, scaleOf, trainingNorm, type AffineOpts, type NormTraining } from './batchnorm.js';
import type { Ctx, ForwardOptions } from './kernels.js';
import type { ParamSpec } from './params.js';

export type RenormConfig = Extract<NormConfig, { kind: 'renorm' }>;

export function renormParams(name: string, c: number, o: AffineOpts): ParamSpec[] {
  const state = (w: string, value: number): ParamSpec => ({ name: `${name}/${w}`, shape: [c], role: 'state', init: { kind: 'const', value } });
  return [...bnParams(name, c, o), state('moving_stddev', 1), state('renorm_mean', 0), state('renorm_stddev', 1)];
}

export interface Clipping {
  rmax: number;
  rmin: number;
  dmax: number;
}

export function clippingAt(cfg: RenormConfig, step: number | undefined): Clipping {
  const full = { rmax: cfg.rmax, rmin: cfg.rmin, dmax: cfg.dmax };
  if (cfg.warmupSteps <= 0) return full;
  if (step === undefined) throw new Error('renorm with warmupSteps > 0 needs the training step: forward(x, { training: true, step })');
  const a = Math.max(step, 0) / cfg.warmupSteps;
  if (a >= 1) return full;
  return { rmax: 1 + a * (cfg.rmax - 1), rmin: 1 - a * (1 - cfg.rmin), dmax: a * cfg.dmax };
}

export function renormTraining(ctx: Ctx, name: string, cfg: RenormConfig, f: ForwardOptions, o: AffineOpts): NormTraining {
  const { tf, p } = ctx;
  const v = (w: string) => p.get(`${name}/${w}`);
  const clip = clippingAt(cfg, f.step);
  return {
    affine: affineOf(ctx, name, o),
    eps: cfg.eps,
    correct: ({ mean, variance }) => {
      const sB = tf.sqrt(tf.add(variance, cfg.eps));
      const sR = tf.maximum(v('renorm_stddev'), Math.sqrt(cfg.eps));
      return {
        r: tf.clipByValue(tf.div(sB, sR), clip.rmin, clip.rmax) as Tensor1D,
        d: tf.clipByValue(tf.div(tf.sub(mean, v('renorm_mean')), sR), -clip.dmax, clip.dmax) as Tensor1D,
      };
    },
    update: ({ mean, variance }) => {
      const sB = tf.sqrt(tf.add(variance, cfg.eps));
      ema(tf, v('renorm_mean'), mean, cfg.renormMomentum);
      ema(tf, v('renorm_stddev'), sB, cfg.renormMomentum);
      ema(tf, v('moving_mean'), mean, cfg.momentum);
      ema(tf, v('moving_stddev'), sB, cfg.momentum);
      tf.tidy(() => { v('moving_variance').assign(tf.relu(tf.sub(tf.square(v('moving_stddev')), cfg.eps))); });
      sB.dispose();
    },
  };
}

export function renormForward(ctx: Ctx, name: string, cfg: RenormConfig, x: Tensor, f: ForwardOptions, o: AffineOpts): Tensor {
  const { tf, p } = ctx;
  if (f.training) return trainingNorm(ctx, renormTraining(ctx, name, cfg, f, o), x);
  const a = affineOf(ctx, name, o);
  return tf.batchNorm(x, p.get(`${name}/moving_mean`), p.get(`${name}/moving_variance`), a.beta, scaleOf(tf, a), cfg.eps);
}
