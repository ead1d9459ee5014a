// Two replica processes against one in-process step: with no batch statistics, 2 replicas × B/2
// update the weights as 1 × B does; with batch norm, each replica normalises by its own half and
// the moving statistics are the mean of theirs, as with the original's central storage.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTf, type Tf } from '../../src/backend/tf.js';
import { createFaceModel, type FaceModel } from '../../src/model/model.js';
import { ReplicaSet } from '../../src/replica/coordinator.js';
import { resolveTrainConfig, type TrainConfig } from '../../src/train/config.js';
import { Sgd } from '../../src/train/optimizer.js';
import { computeGradients, trainStep, type MicroBatch } from '../../src/train/step.js';

const S = 16;
const tiny = (norm: 'group' | 'batch'): TrainConfig =>
  resolveTrainConfig({ data: '', steps: 1, model: { depth: 18, widths: [4, 8, 8, 8], stem: 4, input_size: S, embedding: 8, dropout: 0, norm: norm === 'group' ? { kind: 'group', groups: 2 } : { kind: 'batch' } }, head: { margin: { kind: 'arcface', s: 8, m: 0.2 } } }, 5);

const batch = (n: number, offset: number): MicroBatch => ({
  n,
  images: new Float32Array(n * S * S * 3).map((_, i) => Math.sin(i * 0.37 + offset)),
  labels: new Int32Array(n).map((_, i) => (i * 3 + offset) % 5),
});

const half = (b: MicroBatch, r: number): MicroBatch => {
  const n = b.n / 2;
  return { n, images: b.images.slice(r * n * S * S * 3, (r + 1) * n * S * S * 3), labels: b.labels.slice(r * n, (r + 1) * n) };
};

const weights = (m: FaceModel, role: 'trainable' | 'state') => (role === 'trainable' ? m.params.trainable() : m.params.state()).map((p) => p.v.dataSync<'float32'>().slice());

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, i) => x.forEach((v, j) => (d = Math.max(d, Math.abs(v - b[i]![j]!)))));
  return d;
}

async function setup(tf: Tf, cfg: TrainConfig) {
  const model = createFaceModel(tf, cfg.model, { seed: 3 });
  const opt = new Sgd(tf, model.params.trainable(), cfg.sgd);
  return { model, opt, dispose: () => { opt.dispose(); model.dispose(); } };
}

test('one step with 2 replicas × B/2 gives the weights of 1 replica × B (no batch statistics), step after step', async (t) => {
  const { tf } = await loadTf({ quiet: true });
  const cfg = tiny('group');
  const one = await setup(tf, cfg);
  const two = await setup(tf, cfg);
  const start = weights(one.model, 'trainable');
  const set = await ReplicaSet.start(tf, two.model, two.opt, cfg.sgd, { replicas: 2, log: () => undefined });
  t.after(async () => { await set.close(); one.dispose(); two.dispose(); });
  for (let step = 0; step < 3; step++) {
    const micro = [batch(8, step), batch(8, step + 10)];
    const o = { lr: 0.1, step, seed: 1, regCoef: 0.5 };
    const a = trainStep(tf, one.model, one.opt, micro, o);
    const b = await set.step(micro, o);
    set.store();
    assert.ok(Math.abs(a.inferenceLoss - b.inferenceLoss) < 1e-5, `step ${step}: loss ${a.inferenceLoss} vs ${b.inferenceLoss}`);
    assert.ok(Math.abs(a.regularizationLoss - b.regularizationLoss) < 1e-6, 'the regularization is counted once');
    const d = maxDiff(weights(one.model, 'trainable'), weights(two.model, 'trainable'));
    assert.ok(d < 1e-5, `step ${step}: 1 × 16 and 2 × 8 weights differ by ${d}`);
  }
  assert.ok(maxDiff(start, weights(two.model, 'trainable')) > 1e-3, 'the steps moved the weights');
  const timing = set.timings.at(-1)!;
  const params = one.model.params.list.reduce((a, p) => a + p.spec.shape.reduce((x, y) => x * y, 1), 0);
  assert.ok(timing.bytesReceived === 2 * 4 * params, 'each replica sent every gradient and statistic once, as float32');
  assert.ok(timing.bytesSent > 2 * 4 * params, 'and got every weight and its images');
});

test('with batch norm, each replica uses its own batch statistics; the moving averages are their mean', async (t) => {
  const { tf } = await loadTf({ quiet: true });
  const cfg = tiny('batch');
  const ref = await setup(tf, cfg);
  const two = await setup(tf, cfg);
  const set = await ReplicaSet.start(tf, two.model, two.opt, cfg.sgd, { replicas: 2, log: () => undefined });
  t.after(async () => { await set.close(); ref.dispose(); two.dispose(); });
  const b = batch(8, 4);
  await set.step([b], { lr: 0.1, step: 0, seed: 1, regCoef: 1 });
  set.store();
  // The reference: each half's gradient and moving statistics from the same start, averaged.
  const start = ref.model.getState();
  const halves = [0, 1].map((r) => {
    ref.model.setState(start);
    const g = computeGradients(tf, ref.model, [half(b, r)], { step: 0, seed: 1, firstMicro: r });
    const grads = ref.model.params.trainable().map((p) => g.grads.get(p.spec.name)!.dataSync<'float32'>().slice());
    g.grads.forEach((x) => x.dispose());
    return { grads, state: weights(ref.model, 'state') };
  });
  for (const x of start.values()) x.dispose();
  const meanState = halves[0]!.state.map((s, i) => s.map((v, j) => (v + halves[1]!.state[i]![j]!) / 2));
  assert.ok(meanState.length > 0);
  assert.ok(maxDiff(meanState, weights(two.model, 'state')) < 1e-5, `moving statistics = mean of the replicas' (differ by ${maxDiff(meanState, weights(two.model, 'state'))}; from one half ${maxDiff(halves[0]!.state, weights(two.model, 'state'))})`);
  const whole = await setup(tf, cfg);
  t.after(() => whole.dispose());
  trainStep(tf, whole.model, whole.opt, [b], { lr: 0.1, step: 0, seed: 1, regCoef: 1 });
  assert.ok(maxDiff(weights(whole.model, 'state'), weights(two.model, 'state')) > 1e-4, 'statistics over the whole batch would differ: they are per replica');
});
