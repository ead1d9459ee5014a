// The flat named state: stable names and order, exact save/restore, strict checks, and the L2
// regularisation over it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { NORM, REGULARIZATION, type FaceModelConfig } from '../../src/model/index.js';
import { crossEntropy } from '../../src/model/head.js';
import { createFaceModel } from '../../src/model/model.js';
import { getTf, relErr, tinyBackbone } from './helpers.js';

const tf = await getTf();
const config: FaceModelConfig = {
  backbone: tinyBackbone({ norm: NORM.renorm, dropout: 0 }),
  head: { classes: 5, margin: { kind: 'arcface', s: 64, m: 0.5 }, init: 'original' },
  regularization: REGULARIZATION.original,
};
const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1) as Tensor4D;
const labels = tf.tensor1d([0, 1, 2, 3], 'int32') as Tensor1D;

function trainStep(m: ReturnType<typeof createFaceModel>): void {
  const opt = tf.train.sgd(0.01);
  opt.minimize(() => tf.add(crossEntropy(tf, m.forward(x, labels, { training: true }).logits, labels), m.regularizationLoss()), false, m.trainableVariables());
  opt.dispose();
}

test('state names are stable, ordered, and cover trainable and non-trainable variables', () => {
  const a = createFaceModel(tf, config, { seed: 1 });
  const b = createFaceModel(tf, config, { seed: 2 });
  const names = [...a.getState().keys()];
  assert.deepEqual(names, [...b.getState().keys()]);
  assert.deepEqual(names.slice(0, 9), ['conv0/kernel', 'bn0/gamma', 'bn0/beta', 'bn0/moving_mean', 'bn0/moving_variance',
    'bn0/moving_stddev', 'bn0/renorm_mean', 'bn0/renorm_stddev', 'prelu0/alpha']);
  assert.equal(names.at(-1), 'classifier/kernel');
  assert.ok(names.includes('stage4_unit1_conv1sc/kernel') && names.includes('fc1/moving_variance') && !names.includes('fc1/gamma'));
  assert.equal(a.params.state().length, 5 * (names.filter((n) => n.endsWith('/moving_mean')).length));
  a.dispose();
  b.dispose();
});

test('getState → setState restores a trained model exactly, moving and renorm statistics included', () => {
  const a = createFaceModel(tf, config, { seed: 1 });
  trainStep(a);
  trainStep(a);
  const saved = a.getState();
  const b = createFaceModel(tf, config, { seed: 2 });
  assert.ok(relErr(b.embed(x, { training: false }), a.embed(x, { training: false })) > 1e-3);
  b.setState(saved);
  assert.deepEqual(b.embed(x, { training: false }).arraySync(), a.embed(x, { training: false }).arraySync());
  for (const [k, v] of b.getState()) assert.deepEqual(v.dataSync(), saved.get(k)!.dataSync(), k);
  // The saved copies do not follow later training of `a`.
  const before = saved.get('bn0/renorm_mean')!.dataSync().slice();
  trainStep(a);
  assert.deepEqual(saved.get('bn0/renorm_mean')!.dataSync(), before);
  a.dispose();
  b.dispose();
});

test('setState refuses missing, unexpected and misshapen entries', () => {
  const m = createFaceModel(tf, config);
  const s = m.getState();
  const missing = new Map(s);
  missing.delete('bn0/gamma');
  assert.throws(() => m.setState(missing), /missing bn0\/gamma/);
  assert.throws(() => m.setState(new Map([...s, ['bogus', tf.scalar(1)]])), /unexpected bogus/);
  assert.throws(() => m.setState(new Map([...s, ['bn0/gamma', tf.zeros([3])]])), /'bn0\/gamma' has shape \[3\], the model expects \[4\]/);
  m.dispose();
});

test('L2 regularisation: coef·Σw² over the chosen roles, gradient 2·coef·w; β never in the original', () => {
  const m = createFaceModel(tf, config, { seed: 4 });
  const reg = REGULARIZATION.original;
  const roles = new Set<string>(reg.roles);
  const chosen = m.params.trainable().filter((p) => roles.has(p.spec.role));
  assert.ok(chosen.some((p) => p.spec.name === 'E_DenseLayer/bias') && !chosen.some((p) => p.spec.role === 'beta'));
  const want = chosen.reduce((a, p) => a + Array.from(p.v.dataSync()).reduce((s, w) => s + w * w, 0), 0) * reg.coef;
  const { value, grads } = tf.variableGrads(() => m.regularizationLoss(), m.trainableVariables());
  assert.ok(Math.abs(value.dataSync()[0]! - want) / want < 1e-5);
  for (const p of m.params.trainable()) {
    const g: Tensor | undefined = grads[p.v.name];
    if (roles.has(p.spec.role)) assert.ok(relErr(g!, tf.mul(p.v, 2 * reg.coef)) < 1e-6, p.spec.name);
    else assert.ok(!g || tf.max(tf.abs(g)).dataSync()[0] === 0, p.spec.name);
  }
  const none = createFaceModel(tf, { ...config, regularization: REGULARIZATION.none });
  assert.equal(none.regularizationLoss().dataSync()[0], 0);
  m.dispose();
  none.dispose();
});
