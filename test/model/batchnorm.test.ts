// Batch norm: the fused native kernels and the plain fallback against tfjs autodiff of
// tf.moments + tf.batchNorm (outputs, gradients, moving statistics), and what training and
// inference mode each do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Variable } from '@tensorflow/tfjs';
import { NORM } from '../../src/model/config.js';
import type { Ctx } from '../../src/model/kernels.js';
import { normForward, normParams } from '../../src/model/norm.js';
import { getTf, isNative, layerCtx, relErr, sample } from './helpers.js';

const tf = await getTf();
const C = 5;
const cfg = NORM.batch;

interface Run { y: Tensor; dx: Tensor; dGamma: Tensor; dBeta: Tensor }

/** y = BN(x), and the gradients of Σ y·w with respect to x, γ, β. */
function run(f: (x: Tensor, gamma: Variable, beta: Variable) => Tensor, x: Tensor, gamma: Variable, beta: Variable, w: Tensor): Run {
  const xv = tf.variable(x.clone(), true);
  let y: Tensor | undefined;
  const { grads } = tf.variableGrads(() => {
    y = tf.keep(f(xv, gamma, beta));
    return tf.sum(tf.mul(y, w));
  }, [xv, gamma, beta]);
  const out = { y: y!, dx: grads[xv.name]!, dGamma: grads[gamma.name]!, dBeta: grads[beta.name]! };
  xv.dispose();
  return out;
}

function setup(impl: 'fast' | 'plain', shape: number[]): { ctx: Ctx; gamma: Variable; beta: Variable } {
  const ctx = layerCtx(tf, normParams(cfg, 'bn', C), impl);
  const gamma = ctx.p.get('bn/gamma');
  const beta = ctx.p.get('bn/beta');
  gamma.assign(tf.randomUniform([C], 0.5, 1.5, 'float32', 11));
  beta.assign(tf.randomUniform([C], -0.5, 0.5, 'float32', 12));
  assert.ok(shape.length);
  return { ctx, gamma, beta };
}

for (const shape of [[4, 6, 6, C], [16, C]]) {
  for (const impl of ['fast', 'plain'] as const) {
    test(`batch norm '${impl}' (${shape.join('×')}) matches tf.moments + tf.batchNorm autodiff`, () => {
      if (impl === 'fast') assert.ok(isNative(tf), 'these tests run on the native backend');
      const x = sample(tf, shape, 1);
      const w = tf.randomNormal(shape, 0, 1, 'float32', 2);
      const { ctx, gamma, beta } = setup(impl, shape);
      const got = run((xv) => normForward(ctx, cfg, 'bn', xv, { training: true }), x, gamma, beta, w);
      const axes = shape.length === 4 ? [0, 1, 2] : [0];
      const ref = run((xv, g, b) => {
        const m = tf.moments(xv, axes);
        return tf.batchNorm(xv, m.mean, m.variance, b, g, cfg.eps);
      }, x, gamma, beta, w);
      for (const k of ['y', 'dx', 'dGamma', 'dBeta'] as const) {
        const e = relErr(got[k], ref[k]);
        assert.ok(e < 2e-5, `${k}: relative error ${e}`);
      }
      // One training forward (variableGrads ran f once): moving = 0.9·initial + 0.1·batch.
      const m = tf.moments(x, axes);
      assert.ok(relErr(ctx.p.get('bn/moving_mean'), tf.mul(m.mean, 0.1)) < 1e-5);
      assert.ok(relErr(ctx.p.get('bn/moving_variance'), tf.add(0.9, tf.mul(m.variance, 0.1))) < 1e-5);
      ctx.p.dispose();
    });
  }
}

test('inference mode normalises with the moving statistics and leaves them alone', () => {
  for (const impl of ['fast', 'plain'] as const) {
    const { ctx, gamma, beta } = setup(impl, [2, 3, 3, C]);
    const mm = tf.tensor1d([0.5, -1, 2, 0, 3]);
    const mv = tf.tensor1d([1, 4, 0.25, 2, 9]);
    ctx.p.get('bn/moving_mean').assign(mm);
    ctx.p.get('bn/moving_variance').assign(mv);
    const x = sample(tf, [2, 3, 3, C], 3);
    const y = normForward(ctx, cfg, 'bn', x, { training: false });
    const want = tf.add(tf.mul(tf.div(tf.sub(x, mm), tf.sqrt(tf.add(mv, cfg.eps))), gamma), beta);
    assert.ok(relErr(y, want) < 1e-6, impl);
    assert.deepEqual(ctx.p.get('bn/moving_mean').arraySync(), mm.arraySync());
    assert.deepEqual(ctx.p.get('bn/moving_variance').arraySync(), mv.arraySync());
    // Training mode on the same input: batch statistics (mean ≈ 0 per channel), stats updated.
    const yt = normForward(ctx, cfg, 'bn', x, { training: true });
    const perChannel = tf.moments(tf.div(tf.sub(yt, beta), gamma), [0, 1, 2]);
    assert.ok(Math.max(...Array.from(tf.abs(perChannel.mean).dataSync())) < 1e-5);
    assert.notDeepEqual(ctx.p.get('bn/moving_mean').arraySync(), mm.arraySync());
    ctx.p.dispose();
  }
});

test('fused batch norm without γ (the embedding BN) still trains β', () => {
  const ctx = layerCtx(tf, normParams(cfg, 'fc1', C, { scale: false }), 'fast');
  assert.equal(ctx.p.has('fc1/gamma'), false);
  const x = sample(tf, [8, C], 4);
  const beta = ctx.p.get('fc1/beta');
  const { grads } = tf.variableGrads(() => tf.sum(tf.square(normForward(ctx, cfg, 'fc1', x, { training: true }, { scale: false }))), [beta]);
  assert.ok(grads[beta.name]);
  ctx.p.dispose();
});
