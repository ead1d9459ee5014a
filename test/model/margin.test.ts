// Margin logits: ArcFace's constants and branches, CosFace, the combined margin, finiteness at
// cos θ = ±1 exactly and for zero-norm inputs, and the custom-gradient cosine against autodiff.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { MarginConfig } from '../../src/model/config.js';
import { cosineFast, cosinePlain } from '../../src/model/cosine.js';
import { createHead, crossEntropy, headParams } from '../../src/model/head.js';
import { arcfaceConstants, marginLogits, targetCos, type AngularMargin } from '../../src/model/margin.js';
import { l2Normalize } from '../../src/model/ops.js';
import { getTf, layerCtx, relErr } from './helpers.js';

const tf = await getTf();
const arc: AngularMargin = { kind: 'arcface', s: 64, m: 0.5 };
const finite = (t: Tensor) => Array.from(t.dataSync()).every(Number.isFinite);
const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('ArcFace constants for m = 0.5: th = cos(π − m) = −0.87758, mm = sin(π − m)·m = 0.23971', () => {
  const k = arcfaceConstants(0.5);
  close(k.th, -0.87758);
  close(k.mm, 0.23971);
});

test('ArcFace φ: cos(θ + m) above the threshold, cos θ − mm below, finite value and gradient at ±1', () => {
  const ts = [1, 0.5, 0, -0.8, -0.9, -1];
  const t = tf.tensor1d(ts);
  const phi = Array.from(targetCos(tf, arc, t).dataSync());
  ts.forEach((c, i) => close(phi[i]!, c > -0.87758 ? Math.cos(Math.acos(c) + 0.5) : c - 0.23971));
  const g = tf.grad((x: Tensor) => tf.sum(targetCos(tf, arc, x as Tensor1D)))(t);
  assert.ok(finite(g), `gradient ${g.dataSync()}`);
  // Away from ±1 the gradient is dφ/dcos = sin(θ + m)/sin θ.
  close(g.dataSync()[1]!, Math.sin(Math.acos(0.5) + 0.5) / Math.sin(Math.acos(0.5)), 1e-4);
  close(g.dataSync()[4]!, 1, 1e-6); // the linear branch
});

test('CosFace is cos θ − m; the combined margin cos(m1·θ + m2) − m3 covers both, finite at ±1', () => {
  const t = tf.tensor1d([1, 0.3, -0.4, -1]);
  const cosface = targetCos(tf, { kind: 'cosface', s: 64, m: 0.35 }, t);
  assert.ok(relErr(cosface, [0.65, -0.05, -0.75, -1.35]) < 1e-6);
  const asCosface = targetCos(tf, { kind: 'combined', s: 64, m1: 1, m2: 0, m3: 0.35 }, t);
  assert.ok(relErr(asCosface, cosface) < 1e-5);
  const combined: AngularMargin = { kind: 'combined', s: 64, m1: 0.9, m2: 0.4, m3: 0.15 };
  const want = [1, 0.3, -0.4, -1].map((c) => Math.cos(0.9 * Math.acos(c) + 0.4) - 0.15);
  assert.ok(relErr(targetCos(tf, combined, t), want) < 1e-5);
  for (const m of [combined, { kind: 'cosface', s: 64, m: 0.35 } as const]) {
    assert.ok(finite(tf.grad((x: Tensor) => tf.sum(targetCos(tf, m, x as Tensor1D)))(t)));
  }
});

test('margin logits: s·cos θ everywhere but the target column, which gets s·φ', () => {
  const cos = tf.tensor2d([[0.1, 0.9, -0.2], [1, -1, 0.4]]);
  const labels = tf.tensor1d([1, 0], 'int32');
  const got = marginLogits(tf, arc, cos, labels).arraySync();
  const phi = (c: number) => Math.cos(Math.acos(c) + 0.5);
  const want = [[6.4, 64 * phi(0.9), -12.8], [64 * phi(1), -64, 25.6]];
  want.forEach((row, i) => row.forEach((v, j) => close(got[i]![j]!, v, 1e-4)));
});

test('the custom-gradient cosine (ê·W)·rnorm(W) matches ê·(W/‖W‖) and its autodiff, zero column included', () => {
  const e = l2Normalize(tf, tf.randomNormal([4, 6], 0, 1, 'float32', 1) as Tensor2D);
  const w = tf.concat([tf.randomNormal([6, 9], 0, 1, 'float32', 2), tf.zeros([6, 1])], 1) as Tensor2D;
  const g = tf.randomNormal([4, 10], 0, 1, 'float32', 3);
  const f = (cos: typeof cosineFast) => (a: Tensor, b: Tensor) => tf.sum(tf.mul(cos(tf, a as Tensor2D, b as Tensor2D), g));
  assert.ok(relErr(cosineFast(tf, e, w), cosinePlain(tf, e, w)) < 1e-6);
  const [deF, dwF] = tf.grads(f(cosineFast))([e, w]);
  const [deP, dwP] = tf.grads(f(cosinePlain))([e, w]);
  assert.ok(relErr(deF!, deP!) < 1e-5, `dê ${relErr(deF!, deP!)}`);
  assert.ok(relErr(dwF!, dwP!) < 1e-5, `dW ${relErr(dwF!, dwP!)}`);
  assert.ok(finite(dwF!));
});

for (const margin of [arc, { kind: 'cosface', s: 64, m: 0.35 }, { kind: 'softmax' }] as MarginConfig[]) {
  test(`head '${margin.kind}': zero embeddings, cos θ = ±1 exactly: finite logits, loss and gradients`, () => {
    for (const impl of ['fast', 'plain'] as const) {
      const cfg = { classes: 3, margin, init: 'original' as const };
      const ctx = layerCtx(tf, headParams(cfg, 4), impl);
      const w = ctx.p.get('classifier/kernel');
      w.assign(tf.tensor2d([[1, -1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])); // unit columns
      const head = createHead(ctx, cfg);
      // Row 0 is zero; rows 1 and 2 lie exactly on class 0's direction: cos = 1 and −1.
      const e = tf.variable(tf.tensor2d([[0, 0, 0, 0], [2, 0, 0, 0], [-3, 0, 0, 0]]));
      const labels = tf.tensor1d([0, 0, 0], 'int32');
      const out = head.forward(e, labels);
      assert.deepEqual(Array.from(out.cos.dataSync()).slice(3, 5), [1, -1]);
      assert.ok(finite(out.logits) && finite(out.cos));
      const { value, grads } = tf.variableGrads(() => crossEntropy(tf, head.forward(e, labels).logits, labels), [e, w]);
      assert.ok(Number.isFinite(value.dataSync()[0]), `${impl} loss`);
      assert.ok(finite(grads[e.name]!) && finite(grads[w.name]!), `${impl} gradients`);
      e.dispose();
      ctx.p.dispose();
    }
  });
}
