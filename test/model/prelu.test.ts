// The fast PReLU (x + (α − 1)·min(x, 0), hand-written gradient) against tf.prelu and autodiff,
// for per-channel and per-element α.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from '@tensorflow/tfjs';
import { preluFast, preluParams } from '../../src/model/prelu.js';
import { getTf, relErr } from './helpers.js';

const tf = await getTf();

for (const [kind, alphaShape] of [['channel', [6]], ['element', [4, 5, 6]]] as const) {
  test(`fast PReLU per ${kind} matches tf.prelu: output, ∂x and ∂α`, () => {
    const x = tf.randomNormal([3, 4, 5, 6], 0, 1, 'float32', 1);
    const alpha = tf.randomUniform([...alphaShape], -0.5, 1.5, 'float32', 2);
    const w = tf.randomNormal(x.shape, 0, 1, 'float32', 3);
    const loss = (f: (a: Tensor, b: Tensor) => Tensor) => (a: Tensor, b: Tensor) => tf.sum(tf.mul(f(a, b), w));
    const [dxF, daF] = tf.grads(loss((a, b) => preluFast(tf, a, b)))([x, alpha]);
    const [dxR, daR] = tf.grads(loss((a, b) => tf.prelu(a, b)))([x, alpha]);
    assert.ok(relErr(preluFast(tf, x, alpha), tf.prelu(x, alpha)) < 1e-6);
    assert.ok(relErr(dxF!, dxR!) < 1e-6, `dx: ${relErr(dxF!, dxR!)}`);
    assert.ok(relErr(daF!, daR!) < 1e-5, `dα: ${relErr(daF!, daR!)}`);
    assert.deepEqual(daF!.shape, [...alphaShape]);
  });
}

test('PReLU parameters: per channel [C] at 0.25, per element [H, W, C] at 0', () => {
  assert.deepEqual(preluParams({ kind: 'channel', init: 0.25 }, 'p', 8, 56), { name: 'p/alpha', shape: [8], role: 'alpha', init: { kind: 'const', value: 0.25 } });
  assert.deepEqual(preluParams({ kind: 'element', init: 0 }, 'p', 8, 56).shape, [56, 56, 8]);
});
