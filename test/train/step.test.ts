// One training step: gradient accumulation equals one big batch (for a model without batch
// statistics), and no step leaks tensors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTf } from '../../src/backend/tf.js';
import { createFaceModel } from '../../src/model/model.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { Sgd } from '../../src/train/optimizer.js';
import { trainStep, type MicroBatch } from '../../src/train/step.js';

const tiny = (norm: 'group' | 'batch') =>
  resolveTrainConfig({ data: '', steps: 1, model: { depth: 18, widths: [4, 8, 8, 8], stem: 4, input_size: 16, embedding: 8, dropout: 0, norm: norm === 'group' ? { kind: 'group', groups: 2 } : { kind: 'batch' } }, head: { margin: { kind: 'arcface', s: 8, m: 0.2 } } }, 5);

function batch(n: number, offset: number): MicroBatch {
  return { n, images: new Float32Array(n * 16 * 16 * 3).map((_, i) => Math.sin(i * 0.37 + offset)), labels: new Int32Array(n).map((_, i) => (i + offset) % 5) };
}

function concat(a: MicroBatch, b: MicroBatch): MicroBatch {
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const labels = new Int32Array(a.n + b.n);
  labels.set(a.labels);
  labels.set(b.labels, a.n);
  return { n: a.n + b.n, images, labels };
}

test('accumulating 2 micro-batches of 4 updates the weights as one batch of 8 does (no batch statistics)', async () => {
  const { tf } = await loadTf({ quiet: true });
  const cfg = tiny('group');
  const run = (micro: MicroBatch[]) => {
    const m = createFaceModel(tf, cfg.model, { seed: 3 });
    const opt = new Sgd(tf, m.params.trainable(), cfg.sgd);
    const s = trainStep(tf, m, opt, micro, { lr: 0.1, step: 0, seed: 1, regCoef: 1 });
    const w = m.params.trainable().map((p) => p.v.dataSync().slice());
    opt.dispose();
    m.dispose();
    return { s, w };
  };
  const [a, b] = [batch(4, 0), batch(4, 1)];
  const acc = run([a, b]);
  const big = run([concat(a, b)]);
  let maxDiff = 0;
  let maxMove = 0;
  const init = createFaceModel(tf, cfg.model, { seed: 3 });
  acc.w.forEach((w, i) => {
    const start = init.params.trainable()[i]!.v.dataSync();
    w.forEach((x, j) => {
      maxDiff = Math.max(maxDiff, Math.abs(x - big.w[i]![j]!));
      maxMove = Math.max(maxMove, Math.abs(x - start[j]!));
    });
  });
  init.dispose();
  assert.ok(maxMove > 1e-3, 'the step moved the weights');
  assert.ok(maxDiff < 1e-5, `accumulated and big-batch updates differ by ${maxDiff}`);
  assert.ok(Math.abs(acc.s.inferenceLoss - big.s.inferenceLoss) < 1e-5);
});

test('training steps do not leak tensors', async () => {
  const { tf } = await loadTf({ quiet: true });
  const cfg = tiny('batch');
  const m = createFaceModel(tf, cfg.model, { seed: 1 });
  const opt = new Sgd(tf, m.params.trainable(), cfg.sgd);
  const counts: number[] = [];
  for (let step = 0; step < 6; step++) {
    trainStep(tf, m, opt, [batch(4, step), batch(4, step + 10)], { lr: 0.05, step, seed: 2, regCoef: 0.5 });
    counts.push(tf.memory().numTensors);
  }
  opt.dispose();
  m.dispose();
  assert.equal(new Set(counts.slice(1)).size, 1, `tensor count per step: ${counts.join(', ')}`);
});
