// No tensor leaks: the number of live tensors stays flat over training steps (forward, backward,
// moving-statistics updates, SGD with momentum) and inference calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Scalar, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { NORM, REGULARIZATION } from '../../src/model/config.js';
import { crossEntropy } from '../../src/model/head.js';
import { createFaceModel } from '../../src/model/model.js';
import { GROUP2, getTf, tinyBackbone } from './helpers.js';

const tf = await getTf();

for (const [impl, norm] of [['fast', NORM.batch], ['fast', NORM.renorm], ['plain', NORM.batch], ['plain', NORM.renorm], ['fast', GROUP2]] as const) {
  test(`numTensors is flat over training steps ('${impl}' kernels, ${norm.kind})`, () => {
    const m = createFaceModel(tf, {
      backbone: tinyBackbone({ norm }),
      head: { classes: 6, margin: { kind: 'arcface', s: 64, m: 0.5 }, init: 'original' },
      regularization: REGULARIZATION.original,
    }, { impl });
    const opt = tf.train.momentum(0.01, 0.9);
    const x = tf.randomNormal([4, 32, 32, 3]) as Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32') as Tensor1D;
    const step = (i: number) => {
      const { value, grads } = tf.variableGrads(() => {
        const out = m.forward(x, labels, { training: true, seed: i });
        return tf.add(crossEntropy(tf, out.logits, labels), m.regularizationLoss()) as Scalar;
      }, m.trainableVariables());
      opt.applyGradients(m.trainableVariables().map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      tf.dispose([value, ...Object.values(grads)]);
      tf.tidy(() => { m.embed(x, { training: false }); });
    };
    step(0); // the optimiser creates its momentum slots on the first step
    const before = tf.memory().numTensors;
    for (let i = 1; i <= 3; i++) step(i);
    assert.equal(tf.memory().numTensors, before);
    opt.dispose();
    m.dispose();
  });
}
