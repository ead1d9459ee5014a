import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kfold } from '../../src/eval/kfold.js';
import {
  formatLines, interpolateSlinear, metricsFromDistances, pairDistances, pyFixed, verify, type DistanceMetrics, type VerificationResult,
} from '../../src/eval/verification.js';
import { farEndsAtTarget, makePairs, referenceEmbeddings, referenceFolds, referenceMetrics, referenceSlinear, rng, thresholdNeighbours } from './reference.js';

/** Exact where both sides do the same float operations, 1e-9 where only the summation order differs. */
function assertMatchesReference(m: DistanceMetrics, dist: ArrayLike<number>, issame: boolean[]): void {
  const ref = referenceMetrics(dist, issame);
  assert.deepEqual(m.accuracy.folds, ref.accuracies, 'held-out accuracies');
  assert.deepEqual(m.accuracy.thresholds, ref.bestThresholds, 'chosen thresholds');
  assert.ok(Math.abs(m.accuracy.mean - ref.accMean) <= 1e-9 && Math.abs(m.accuracy.std - ref.accStd) <= 1e-9, 'accuracy mean/std');
  for (let i = 0; i < 400; i++) {
    assert.ok(Math.abs(m.roc.tpr[i]! - ref.tpr[i]!) <= 1e-12 && Math.abs(m.roc.fpr[i]! - ref.fpr[i]!) <= 1e-12, `roc at ${i}`);
  }
  if ('error' in ref.val) {
    assert.equal(m.val.kind, 'undefined', 'insightface raises ZeroDivisionError here');
    return;
  }
  assert.equal(m.val.kind, 'defined');
  if (m.val.kind !== 'defined') return;
  assert.deepEqual(m.val.thresholds, ref.val.thresholds, 'VAL thresholds');
  for (const [a, b] of [[m.val.mean, ref.val.mean], [m.val.std, ref.val.std], [m.val.far, ref.val.far]] as const) {
    assert.ok(Math.abs(a - b) <= 1e-9, `VAL ${a} vs ${b}`);
  }
}

function checkEmbeddings(seed: number, pairs: number, dim: number): VerificationResult {
  const { emb, embFlip, issame } = makePairs(seed, pairs, dim);
  const got = verify({ emb, embFlip, dim, issame });
  const ref = referenceEmbeddings(emb, embFlip, dim);
  assert.ok(Math.abs(got.xnorm - ref.xnorm) <= 1e-9 * ref.xnorm, `xnorm ${got.xnorm} vs ${ref.xnorm}`);
  const dist = pairDistances(emb, embFlip, dim);
  for (let p = 0; p < pairs; p++) assert.ok(Math.abs(dist[p]! - ref.dist[p]!) <= 1e-12, `dist ${p}`);
  assertMatchesReference(got, ref.dist, issame);
  return got;
}

test('random embeddings match the reference, n not a multiple of 10 and the smallest n', () => {
  const big = checkEmbeddings(1, 6001, 48);
  assert.ok(big.accuracy.mean > 0.6 && big.accuracy.mean < 0.99, `a non-trivial accuracy: ${big.accuracy.mean}`);
  assert.equal(big.val.kind, 'defined');
  checkEmbeddings(2, 13, 512);
  checkEmbeddings(3, 10, 7);
  for (let seed = 10; seed < 20; seed++) checkEmbeddings(seed, 200 + seed, 3 + seed);
});

test('distances on, and one ulp beside, every threshold value, with many ties', () => {
  const r = rng(7);
  const near = thresholdNeighbours();
  assert.ok(near.includes(0.35) && near.includes(35 * 0.01) && 0.35 !== 35 * 0.01, 'i*0.01 is not always i/100');
  for (const n of [6001, 1000, 13]) {
    const dist = Float64Array.from({ length: n }, () => near[Math.floor(r() * near.length)]!);
    const issame = Array.from(dist, (d) => r() < (d < 1.2 ? 0.8 : 0.2));
    assertMatchesReference(metricsFromDistances(dist, issame), dist, issame);
  }
  const tied = Float64Array.from({ length: 997 }, () => Math.floor(r() * 5) * 0.5);
  const issame = Array.from(tied, (d) => r() < (d < 1 ? 0.9 : 0.1));
  assertMatchesReference(metricsFromDistances(tied, issame), tied, issame);
});

test('a distance equal to a threshold is not below it (strict <)', () => {
  const dist = Float64Array.from({ length: 20 }, (_, i) => (i < 10 ? 0.5 : 2)); // 0.5 = 50*0.01
  const issame = Array.from({ length: 20 }, (_, i) => i < 10);
  const m = metricsFromDistances(dist, issame);
  // t = 0.5 still calls 0.5 "different"; the first threshold that separates is 0.51.
  assert.deepEqual(m.accuracy.thresholds, Array(10).fill(51 * 0.01));
  assert.equal(m.roc.tpr[50], 0);
  assert.equal(m.roc.tpr[51], 0.5, 'only the 5 folds holding same pairs reach tpr 1');
});

test('all-same, all-different and a held-out fold without positives: accuracy as insightface, VAL undefined', () => {
  const r = rng(11);
  for (const flag of [true, false]) {
    const dist = Float64Array.from({ length: 57 }, () => r() * 4);
    const issame = Array(57).fill(flag) as boolean[];
    const m = metricsFromDistances(dist, issame);
    assertMatchesReference(m, dist, issame);
    assert.equal(m.val.kind, 'undefined');
    assert.match(m.val.kind === 'undefined' ? m.val.reason : '', new RegExp(`fold 0: its training set has no ${flag ? 'different' : 'same'}-identity pair`));
  }
  const dist = Float64Array.from({ length: 100 }, () => r() * 4);
  const issame = Array.from({ length: 100 }, (_, i) => i >= 10 && r() < 0.5);
  const m = metricsFromDistances(dist, issame);
  assertMatchesReference(m, dist, issame);
  assert.deepEqual(m.val, { kind: 'undefined', reason: 'fold 0: its held-out fold has no same-identity pair' });
});

test('FAR reaching exactly 1e-3: the last FAR equal to the target gives threshold 0, as old scipy did', () => {
  const { dist: flat, issame } = farEndsAtTarget();
  const m = metricsFromDistances(flat, issame);
  assertMatchesReference(m, flat, issame);
  assert.equal(m.val.kind === 'defined' && m.val.thresholds.every((t) => t === 0), true, 'scipy lands on an empty knot interval');
  assert.equal(m.val.kind === 'defined' ? m.val.mean : NaN, 0);
});

test('slinear interpolation follows scipy through repeated FAR values', () => {
  const r = rng(5);
  for (let trial = 0; trial < 300; trial++) {
    const m = 2 + Math.floor(r() * 60);
    const x = new Float64Array(m);
    for (let i = 1; i < m; i++) x[i] = x[i - 1]! + (r() < 0.6 ? 0 : Math.floor(r() * 3) * 0.0005);
    const y = Float64Array.from({ length: m }, (_, i) => i * 0.001);
    if (x[m - 1]! < 1e-3) continue;
    const at = r() < 0.3 ? 1e-3 : x[Math.floor(r() * m)]!;
    if (at > x[m - 1]!) continue;
    assert.equal(interpolateSlinear(x, y, at), referenceSlinear([...x], [...y], at), `trial ${trial}`);
  }
  const x = Float64Array.from([0, 0, 0.0005, 0.001, 0.001, 0.002]);
  const y = Float64Array.from([0, 1, 2, 3, 4, 5]);
  assert.equal(interpolateSlinear(x, y, 1e-3), 4, 'the last knot ≤ 1e-3, not the first');
  assert.equal(interpolateSlinear(Float64Array.from([0, 0.001, 0.001]), y, 1e-3), 0);
});

test('identical embeddings, zero rows (sklearn leaves them zero) and bad input', () => {
  const dim = 4;
  const emb = new Float32Array(2 * 20 * dim).fill(1);
  const issame = Array.from({ length: 20 }, (_, i) => i % 3 === 0);
  const same = verify({ emb, embFlip: emb, dim, issame });
  assert.equal(same.xnorm, 2);
  assert.deepEqual([...pairDistances(emb, emb, dim)], Array(20).fill(0));
  assertMatchesReference(same, Array(20).fill(0), issame);

  const zero = new Float32Array(2 * 20 * dim);
  for (let p = 0; p < 20; p++) if (p % 2) zero.fill(3, (2 * p + 1) * dim, (2 * p + 2) * dim);
  const d = pairDistances(zero, zero, dim);
  assert.deepEqual([...d], Array.from({ length: 20 }, (_, p) => (p % 2 ? 1 : 0)), 'zero vs zero = 0, zero vs unit = 1');
  assertMatchesReference(verify({ emb: zero, embFlip: zero, dim, issame }), d, issame);

  const nan = emb.slice();
  nan[17] = NaN;
  assert.throws(() => verify({ emb: nan, embFlip: emb, dim, issame }), /row 4 holds NaN or Infinity/);
  assert.throws(() => verify({ emb: emb.subarray(0, 9 * 2 * dim), embFlip: emb.subarray(0, 9 * 2 * dim), dim, issame: issame.slice(0, 9) }), /needs at least 10 pairs, got 9/);
  assert.throws(() => verify({ emb, embFlip: emb, dim: 3, issame }), /20 pairs need/);
});

test('kfold: sklearn fold sizes, the first n mod 10 folds one longer; fewer than 10 refused', () => {
  const sizes = (n: number): number[] => kfold(n).map((f) => f.end - f.start);
  assert.deepEqual(sizes(13), [2, 2, 2, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(sizes(10), Array(10).fill(1));
  assert.deepEqual(sizes(6001), [601, ...Array(9).fill(600)]);
  assert.deepEqual(kfold(7, 3), [{ start: 0, end: 3 }, { start: 3, end: 5 }, { start: 5, end: 7 }]);
  for (const n of [10, 13, 6001, 7000]) {
    const folds = kfold(n);
    assert.equal(folds.at(-1)!.end, n);
    referenceFolds(n).forEach(([, test], f) => assert.deepEqual([folds[f]!.start, folds[f]!.end], [test[0], test.at(-1)! + 1]));
  }
  assert.throws(() => kfold(9), /needs at least 10 pairs, got 9/);
  assert.throws(() => kfold(0), /got 0/);
  assert.throws(() => kfold(5, 1), /at least 2 folds/);
});

test("formatLines: insightface's formats, Python's rounding", () => {
  const r = checkEmbeddings(4, 300, 16);
  const lines = formatLines('lfw', { ...r, xnorm: 22.4185, accuracy: { ...r.accuracy, mean: 0.9965, std: 0.0030185 } });
  assert.equal(lines[0], '[lfw]XNorm: 22.418500');
  assert.equal(lines[1], '[lfw]Accuracy-Flip: 0.99650+-0.00302');
  assert.match(lines[2]!, /^\[lfw\]Validation rate: \d\.\d{5}\+-\d\.\d{5} @ FAR=\d\.\d{5}$/);
  assert.equal(formatLines('x', { ...r, val: { kind: 'undefined', reason: 'why' } })[2], '[x]Validation rate: undefined (why)');
  assert.equal(pyFixed(0.015625, 5), '0.01562', 'an exact half rounds to even');
  assert.equal(pyFixed(0.015625 + 2 ** -40, 5), '0.01563');
  assert.equal(pyFixed(0.125, 2), '0.12');
  assert.equal(pyFixed(0.375, 2), '0.38');
  assert.equal(pyFixed(2.675, 2), '2.67', 'the double below 2.675');
  assert.equal(pyFixed(0.99999999, 5), '1.00000');
  assert.equal(pyFixed(-0.0000001, 5), '-0.00000');
  assert.equal(pyFixed(NaN, 5), 'nan');
  assert.equal(pyFixed(1e22, 1), '10000000000000000000000.0');
});
