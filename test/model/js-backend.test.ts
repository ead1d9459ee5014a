// On the pure-JS backend the native-only kernels fall back to plain tfjs by themselves, and the
// backend-agnostic custom gradients (PReLU, cosine) agree with plain autodiff there too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { loadTf } from '../../src/backend/tf.js';
import { REGULARIZATION } from '../../src/model/config.js';
import { crossEntropy } from '../../src/model/head.js';
import { createFaceModel } from '../../src/model/model.js';
import { relErr, tinyBackbone } from './helpers.js';

process.env.FACEPIPE_BACKEND = 'js';
const { tf } = await loadTf({ quiet: true });

test("'fast' kernels on the JS backend: no native ops, same loss and gradients as 'plain'", () => {
  assert.equal(tf.getBackend(), 'cpu');
  const config = {
    // 32×32 and 4 images: the last stage's batch norm sees 2×2×4 values. With fewer it is so
    // ill-conditioned that float rounding alone changes the gradients by 1e-4.
    backbone: tinyBackbone({ dropout: 0 }),
    head: { classes: 4, margin: { kind: 'arcface', s: 64, m: 0.5 }, init: 'original' },
    regularization: REGULARIZATION.original,
  } as const;
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1) as Tensor4D;
  const labels = tf.tensor1d([0, 3, 1, 2], 'int32') as Tensor1D;
  const run = (impl: 'fast' | 'plain') => {
    const m = createFaceModel(tf, config, { impl, seed: 5 });
    assert.equal(m.kernels.nat, undefined);
    const { value, grads } = tf.variableGrads(() => tf.add(crossEntropy(tf, m.forward(x, labels, { training: true }).logits, labels), m.regularizationLoss()), m.trainableVariables());
    return { loss: value.dataSync()[0]!, grads: m.params.trainable().map((p) => grads[p.v.name]!) };
  };
  const fast = run('fast');
  const plain = run('plain');
  assert.ok(Math.abs(fast.loss - plain.loss) < 1e-4 * Math.abs(plain.loss));
  // The conv kernel's gradient is large everywhere; compare it and the classifier's.
  assert.ok(relErr(fast.grads[0]!, plain.grads[0]!) < 2e-5, 'conv0');
  assert.ok(relErr(fast.grads.at(-1)!, plain.grads.at(-1)!) < 2e-5, 'classifier');
});
