// The network's layout (units, sizes, parameter counts against a closed form and the known r50
// number), its forward shapes, training vs inference (dropout only in training) and config checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor4D } from '@tensorflow/tfjs';
import { UNITS, backboneConfig, checkBackbone, type BackboneConfig } from '../../src/model/config.js';
import { backboneParams, units } from '../../src/model/iresnet.js';
import { createFaceModel } from '../../src/model/model.js';
import { countParams } from '../../src/model/params.js';
import { getTf, relErr, tinyBackbone } from './helpers.js';

const tf = await getTf();

/** Trainable parameters of an IR-ResNet with per-channel PReLU and batch norm, in closed form:
 *  stem 3·3·3·s + 2s (BN γ, β) + s (PReLU) = 30s;
 *  unit(i → o) = 2i (BN) + 9io (conv) + 2o (BN) + o (PReLU) + 9o² (conv) + 2o (BN)
 *                [+ io + 2o for the projection of a stage's first unit];
 *  head 2·w4 (BN) + (S/16)²·w4·E + E (FC) + E (last BN, β only). */
function closedForm(c: BackboneConfig): number {
  let n = 30 * c.stem;
  let cin = c.stem;
  UNITS[c.depth].forEach((units, s) => {
    const o = c.widths[s]!;
    for (let u = 0; u < units; u++) {
      const i = u === 0 ? cin : o;
      n += 2 * i + 9 * i * o + 5 * o + 9 * o * o + (u === 0 ? i * o + 2 * o : 0);
    }
    cin = o;
  });
  const w4 = c.widths[3];
  return n + 2 * w4 + (c.inputSize / 16) ** 2 * w4 * c.embedding + 2 * c.embedding;
}

test('parameter counts: r50 43,590,336 and r18 24,025,088 trainable (512-d, 112×112), as the closed form says', () => {
  const r50 = countParams(backboneParams(backboneConfig()));
  const r18 = countParams(backboneParams(backboneConfig({ depth: 18 })));
  // arcface_torch's iresnet50 prints 43,590,848 parameters: the same plus its frozen
  // features.weight (512 ones), which is our last BN without γ.
  assert.equal(r50.trainable, 43_590_848 - 512);
  assert.equal(r18.trainable, 24_025_088);
  for (const depth of [18, 34, 50, 100] as const) {
    const c = backboneConfig({ depth });
    assert.equal(countParams(backboneParams(c)).trainable, closedForm(c), `r${depth}`);
  }
  const tiny = tinyBackbone();
  assert.equal(countParams(backboneParams(tiny)).trainable, closedForm(tiny));
  // Moving mean and variance of every BN: 2 per normalised channel.
  assert.equal(r50.state, 38_144);
});

test('units: stride 2 and a projection at the start of each stage, 112 → 56 → 28 → 14 → 7', () => {
  const us = units(backboneConfig());
  assert.equal(us.length, 3 + 4 + 14 + 3);
  const firsts = us.filter((u) => u.proj);
  assert.deepEqual(firsts.map((u) => [u.name, u.cin, u.cout, u.stride, u.size]), [
    ['stage1_unit1', 64, 64, 2, 112], ['stage2_unit1', 64, 128, 2, 56],
    ['stage3_unit1', 128, 256, 2, 28], ['stage4_unit1', 256, 512, 2, 14]]);
  assert.ok(us.every((u) => u.proj === (u.stride === 2)));
  assert.equal(us.at(-1)!.size, 7);
});

test('forward: (N, S, S, 3) → (N, E); dropout only in training; inference is deterministic', () => {
  const backbone = tinyBackbone({ dropout: 0.4 });
  const m = createFaceModel(tf, { backbone, regularization: { kind: 'none' } }, { seed: 2 });
  const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1) as Tensor4D;
  const a = m.embed(x, { training: false });
  assert.deepEqual(a.shape, [4, 8]);
  assert.deepEqual(a.arraySync(), m.embed(x, { training: false }).arraySync());
  // Training uses batch statistics and updates the moving ones (so inference changes after it);
  // the dropout mask depends on the seed, nothing else does.
  const t1 = m.embed(x, { training: true, seed: 1 });
  const t1again = m.embed(x, { training: true, seed: 1 });
  const t2 = m.embed(x, { training: true, seed: 2 });
  assert.ok(relErr(t1again, t1) < 1e-5);
  assert.ok(relErr(t2, t1) > 1e-2, 'a different dropout mask gives a different output');
  assert.ok(relErr(m.embed(x, { training: false }), a) > 1e-3, 'the moving statistics moved');
  assert.throws(() => m.embed(tf.zeros([1, 16, 16, 3]) as Tensor4D, { training: false }), /backbone input must be \(N, 32, 32, 3\)/);
  m.dispose();
});

test('config checks name the key and what is wrong', () => {
  assert.deepEqual(checkBackbone(backboneConfig()), []);
  const errs = checkBackbone(backboneConfig({ inputSize: 100, norm: { kind: 'group', groups: 32, eps: 1e-5 }, widths: [64, 128, 256, 500] }));
  assert.ok(errs.some((e) => e.startsWith('inputSize: expected a positive multiple of 16, got 100')));
  assert.ok(errs.some((e) => e.startsWith('norm.groups: 32 groups do not divide widths[3] = 500')));
  assert.throws(() => backboneParams(backboneConfig({ depth: 20 as 18 })), /depth: 20 is not one of 18, 34, 50, 100/);
});
