// Group norm against a direct loop over (sample, group) in NHWC and (N, C), and against the
// original project's reshape, which grouped rows of pixels instead of channels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '@tensorflow/tfjs';
import type { NormConfig } from '../../src/model/config.js';
import { normForward, normParams } from '../../src/model/norm.js';
import { getTf, layerCtx, relErr, sample } from './helpers.js';

const tf = await getTf();
const cfg: NormConfig = { kind: 'group', groups: 3, eps: 2e-5 };
const C = 6;

/** GN by definition: per sample n and group g, statistics over all (pixel, channel of g). */
function direct(x: Tensor, gamma: Float32Array, beta: Float32Array, groups: number, eps: number): Float32Array {
  const v = x.dataSync();
  const n = x.shape[0];
  const per = v.length / n; // values per sample
  const c = x.shape[x.rank - 1]!;
  const cg = c / groups;
  const out = new Float32Array(v.length);
  for (let s = 0; s < n; s++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let i = 0; i < per; i++) if (Math.floor((i % c) / cg) === g) idx.push(s * per + i);
      const mean = idx.reduce((a, i) => a + v[i]!, 0) / idx.length;
      const variance = idx.reduce((a, i) => a + (v[i]! - mean) ** 2, 0) / idx.length;
      for (const i of idx) out[i] = ((v[i]! - mean) / Math.sqrt(variance + eps)) * gamma[i % c]! + beta[i % c]!;
    }
  }
  return out;
}

for (const shape of [[2, 4, 5, C], [3, C]]) {
  test(`group norm (${shape.join('×')}) matches the definition, in training and inference alike`, () => {
    const ctx = layerCtx(tf, normParams(cfg, 'gn', C), 'fast');
    ctx.p.get('gn/gamma').assign(tf.randomUniform([C], 0.5, 1.5, 'float32', 5));
    ctx.p.get('gn/beta').assign(tf.randomUniform([C], -0.5, 0.5, 'float32', 6));
    // Different scales per channel, so that wrong grouping shows.
    const x = tf.mul(sample(tf, shape, 7), tf.tensor1d([1, 2, 3, 0.5, 5, 8]));
    const want = direct(x, ctx.p.get('gn/gamma').dataSync() as Float32Array, ctx.p.get('gn/beta').dataSync() as Float32Array, 3, cfg.eps);
    const train = normForward(ctx, cfg, 'gn', x, { training: true });
    const infer = normForward(ctx, cfg, 'gn', x, { training: false });
    assert.ok(relErr(train, want) < 1e-5, `relative error ${relErr(train, want)}`);
    assert.deepEqual(Array.from(train.dataSync()), Array.from(infer.dataSync()));
    ctx.p.dispose();
  });
}

test("the original's grouping (NHWC memory cut into G blocks) is a different function", () => {
  const x = tf.mul(sample(tf, [2, 6, 5, C], 8), tf.tensor1d([1, 2, 3, 0.5, 5, 8]));
  const ones = new Float32Array(C).fill(1);
  const zeros = new Float32Array(C);
  const mine = direct(x, ones, zeros, 3, cfg.eps);
  // tf.keras reshape of (N, H, W, C) to (N, G, H, W, C/G), statistics over all but (N, G).
  const blocks = tf.reshape(x, [2, 3, -1]);
  const m = tf.moments(blocks, [2], true);
  const original = tf.reshape(tf.div(tf.sub(blocks, m.mean), tf.sqrt(tf.add(m.variance, cfg.eps))), x.shape);
  assert.ok(relErr(original, mine) > 0.1);
});
