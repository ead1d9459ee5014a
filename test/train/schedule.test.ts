import assert from 'node:assert/strict';
import { test } from 'node:test';
import { learningRate, type LrSchedule } from '../../src/train/schedule.js';
import { decayRegCoef } from '../../src/train/step.js';

test('piecewise: the original multiplies by the factor at each boundary', () => {
  const s: LrSchedule = { kind: 'piecewise', initial: 0.0005, boundaries: [100, 200], factor: 0.5 };
  assert.deepEqual([0, 99, 100, 199, 200, 10_000].map((k) => learningRate(s, k, 1000)), [0.0005, 0.0005, 0.00025, 0.00025, 0.000125, 0.000125]);
});

test('poly: linear warm-up to the initial rate, then (1 − progress)^power down to the end rate', () => {
  const s = { kind: 'poly', initial: 0.1, power: 1, warmupSteps: 10, end: 0 } as const;
  assert.equal(learningRate(s, 0, 110), 0.01);
  assert.equal(learningRate(s, 9, 110), 0.1);
  assert.equal(learningRate(s, 10, 110), 0.1);
  assert.ok(Math.abs(learningRate(s, 60, 110) - 0.05) < 1e-12);
  assert.equal(learningRate(s, 110, 110), 0);
  assert.ok(Math.abs(learningRate({ ...s, power: 2, warmupSteps: 0 }, 50, 100) - 0.025) < 1e-12);
});

test("the original's regularization coefficient decays by 0.8 when inference < coef·reg, without a floor", () => {
  const stats = (inference: number, reg: number) => ({ loss: 0, inferenceLoss: inference, regularizationLoss: reg, accuracy: 0, accuracyCos: 0 });
  assert.equal(decayRegCoef(1, stats(5, 10), 0.8), 0.8);
  assert.equal(decayRegCoef(1, stats(15, 10), 0.8), 1);
  let c = 1;
  for (let i = 0; i < 100; i++) c = decayRegCoef(c, stats(0, 1), 0.8);
  assert.ok(c > 0 && c < 1e-9);
});
