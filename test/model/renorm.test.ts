// Batch renormalization against a step-by-step re-computation of Keras' definition (renorm.ts),
// through both implementations, for three training steps; the warm-up; inference.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { NormConfig } from '../../src/model/config.js';
import { normForward, normParams } from '../../src/model/norm.js';
import { clippingAt, type RenormConfig } from '../../src/model/renorm.js';
import { getTf, layerCtx, relErr } from './helpers.js';

const tf = await getTf();
const C = 5;
// Tight clipping so that r and d are clipped on some channels and not on others.
const cfg: RenormConfig = { kind: 'renorm', eps: 2e-5, momentum: 0.9, renormMomentum: 0.8, rmax: 1.5, rmin: 0.5, dmax: 0.5, warmupSteps: 0 };
const STATE = ['moving_mean', 'moving_variance', 'moving_stddev', 'renorm_mean', 'renorm_stddev'] as const;
type State = Record<(typeof STATE)[number], Float32Array>;

const input = (seed: number): Tensor => tf.tidy(() => tf.add(
  tf.mul(tf.randomNormal([4, 3, 3, C], 0, 1, 'float32', seed), tf.tensor1d([0.3, 1, 1.7, 2.5, 4])),
  tf.tensor1d([-1, 0, 0.2, 0.6, 2])));

/** One Keras renorm training step on plain arrays/tensors, off the tape: r, d and the new state. */
function kerasStep(x: Tensor, s: State): { r: Tensor; d: Tensor; next: State } {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const m = mean.dataSync();
  const sB = Array.from(variance.dataSync(), (v) => Math.sqrt(v + cfg.eps));
  const sR = Array.from(s.renorm_stddev, (v) => Math.max(v, Math.sqrt(cfg.eps)));
  const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const r = sB.map((v, i) => clip(v / sR[i]!, cfg.rmin, cfg.rmax));
  const d = sB.map((_, i) => clip((m[i]! - s.renorm_mean[i]!) / sR[i]!, -cfg.dmax, cfg.dmax));
  const ema = (old: Float32Array, v: ArrayLike<number>, k: number) => Float32Array.from(old, (o, i) => k * o + (1 - k) * v[i]!);
  const movingStd = ema(s.moving_stddev, sB, cfg.momentum);
  const next: State = {
    moving_mean: ema(s.moving_mean, m, cfg.momentum),
    moving_stddev: movingStd,
    moving_variance: Float32Array.from(movingStd, (v) => Math.max(v * v - cfg.eps, 0)),
    renorm_mean: ema(s.renorm_mean, m, cfg.renormMomentum),
    renorm_stddev: ema(s.renorm_stddev, sB, cfg.renormMomentum),
  };
  return { r: tf.tensor1d(r), d: tf.tensor1d(d), next };
}

function grads(f: (x: Tensor) => Tensor, x: Tensor, vars: Variable[], w: Tensor): Tensor[] {
  const xv = tf.variable(x.clone());
  const { value, grads: g } = tf.variableGrads(() => tf.sum(tf.mul(f(xv), w)), [xv, ...vars]);
  const out = [value, ...[xv, ...vars].map((v) => g[v.name]!)];
  xv.dispose();
  return out;
}

for (const impl of ['fast', 'plain'] as const) {
  test(`renorm '${impl}' follows Keras' definition for three steps (output, gradients, all five statistics)`, () => {
    const ctx = layerCtx(tf, normParams(cfg, 'bn', C), impl);
    const gamma = ctx.p.get('bn/gamma');
    const beta = ctx.p.get('bn/beta');
    gamma.assign(tf.tensor1d([0.7, 1.2, 1, 0.9, 1.4]));
    beta.assign(tf.tensor1d([0.1, -0.2, 0, 0.3, 0.5]));
    let s = Object.fromEntries(STATE.map((k) => [k, ctx.p.get(`bn/${k}`).dataSync() as Float32Array])) as State;
    let clippedR = 0;
    for (let step = 0; step < 3; step++) {
      const x = input(10 + step);
      const w = tf.randomNormal(x.shape, 0, 1, 'float32', 20 + step);
      const { r, d, next } = kerasStep(x, s);
      clippedR += Array.from(r.dataSync()).filter((v) => v === cfg.rmax || v === cfg.rmin).length;
      const ref = grads((xv) => {
        const m = tf.moments(xv, [0, 1, 2]);
        return tf.batchNorm(xv, m.mean, m.variance, tf.add(beta, tf.mul(gamma, d)), tf.mul(gamma, r), cfg.eps);
      }, x, [gamma, beta], w);
      const got = grads((xv) => normForward(ctx, cfg, 'bn', xv, { training: true }), x, [gamma, beta], w);
      ['Σy·w', 'dx', 'dγ', 'dβ'].forEach((what, i) => {
        const e = relErr(got[i]!, ref[i]!);
        assert.ok(e < 2e-5, `step ${step} ${what}: relative error ${e}`);
      });
      for (const k of STATE) {
        const e = relErr(ctx.p.get(`bn/${k}`), next[k]);
        assert.ok(e < 1e-5, `step ${step} ${k}: relative error ${e}`);
      }
      s = next;
    }
    assert.ok(clippedR > 0, 'the clipping was exercised');
    // Inference: plain BN with moving_mean and moving_variance.
    const x = input(30);
    const y = normForward(ctx, cfg, 'bn', x, { training: false });
    const want = tf.batchNorm(x, tf.tensor1d(s.moving_mean), tf.tensor1d(s.moving_variance), beta, gamma, cfg.eps);
    assert.ok(relErr(y, want) < 1e-6);
    ctx.p.dispose();
  });
}

test('renorm warm-up relaxes the clipping linearly from plain batch norm', () => {
  const w: RenormConfig = { ...cfg, rmax: 3, rmin: 0.3333, dmax: 5, warmupSteps: 100 };
  assert.deepEqual(clippingAt(w, 0), { rmax: 1, rmin: 1, dmax: 0 });
  const half = clippingAt(w, 50);
  assert.ok(Math.abs(half.rmax - 2) < 1e-12 && Math.abs(half.rmin - 0.66665) < 1e-12 && Math.abs(half.dmax - 2.5) < 1e-12);
  assert.deepEqual(clippingAt(w, 1000), { rmax: 3, rmin: 0.3333, dmax: 5 });
  assert.deepEqual(clippingAt(cfg, undefined), { rmax: 1.5, rmin: 0.5, dmax: 0.5 });
  assert.throws(() => clippingAt(w, undefined), /needs the training step/);
  // At step 0 the output is exactly batch norm's, even with state far from the batch.
  for (const impl of ['fast', 'plain'] as const) {
    const ctx = layerCtx(tf, normParams(w, 'bn', C), impl);
    ctx.p.get('bn/renorm_mean').assign(tf.fill([C], 3));
    const x = input(40);
    const y = normForward(ctx, w, 'bn', x, { training: true, step: 0 });
    const bnCfg: NormConfig = { kind: 'batch', eps: w.eps, momentum: w.momentum };
    const bn = layerCtx(tf, normParams(bnCfg, 'bn', C), impl);
    assert.ok(relErr(y, normForward(bn, bnCfg, 'bn', x, { training: true })) < 1e-6, impl);
    ctx.p.dispose();
    bn.p.dispose();
  }
});
