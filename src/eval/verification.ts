// insightface's face-verification metrics (lfw, cfp_fp, agedb_30, …) as its eval/verification.py
// computes them (arcface_torch and the older mxnet recognition/ArcFace copy agree), with the same
// float64 arithmetic in the same order, so a printed number means what insightface's means.
// Instead of insightface's 400 + 4000 full passes over the pairs per fold, the pairs are sorted by
// distance once and every threshold is swept with running counts per fold.
import { kfold, type Fold } from './kfold.js';

export const FOLDS = 10;
export const FAR_TARGET = 1e-3;

/**
 * np.arange(0, 4, step) fills `start + i*delta`, so value i is exactly i*step in float64 — which is
 * not always the double nearest i/100 (35*0.01 ≠ 0.35; 51 of the 400 differ): a distance between
 * the two would be counted differently, hence no rounding to decimals here.
 */
function arange(count: number, step: number): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => i * step);
}
const ACC_THRESHOLDS = arange(400, 0.01);
const VAL_THRESHOLDS = arange(4000, 0.001);

export interface VerificationInput {
  /** Embeddings of the 2P images, row-major, 2P × dim; pair i is rows 2i and 2i+1. */
  emb: Float32Array;
  /** Embeddings of the same images flipped horizontally, same layout. */
  embFlip: Float32Array;
  dim: number;
  /** P flags: pair i shows one identity. */
  issame: readonly boolean[];
}

export interface AccuracyResult {
  /** Mean and population std of the 10 held-out accuracies (insightface's "Accuracy-Flip"). */
  mean: number;
  std: number;
  folds: number[];
  /** The threshold each fold chose on its 9 training folds. */
  thresholds: number[];
}

/**
 * VAL@FAR=1e-3. insightface divides by the same-pair and different-pair counts of every training
 * and held-out set without a guard, so it raises ZeroDivisionError (and prints nothing at all) when
 * one is 0; here that is `undefined`, while the accuracy, which it computes first, is still given.
 */
export type ValResult =
  | { kind: 'defined'; mean: number; std: number; far: number; folds: number[]; fars: number[]; thresholds: number[] }
  | { kind: 'undefined'; reason: string };

/** insightface's ROC: per threshold, the mean over folds of each held-out fold's TPR and FPR. */
export interface Roc {
  thresholds: Float64Array;
  tpr: Float64Array;
  fpr: Float64Array;
}

export interface DistanceMetrics {
  pairs: number;
  accuracy: AccuracyResult;
  val: ValResult;
  roc: Roc;
}

export interface VerificationResult extends DistanceMetrics {
  /** Mean L2 norm of every raw row, originals and flips (4P rows), before summing. */
  xnorm: number;
}

export function verify(input: VerificationInput): VerificationResult {
  const { emb, embFlip, dim, issame } = input;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`verification: dim must be a positive integer, got ${dim}`);
  if (emb.length !== 2 * issame.length * dim || embFlip.length !== emb.length) {
    throw new RangeError(`verification: ${issame.length} pairs need 2 × ${issame.length} × ${dim} values in emb and embFlip, got ${emb.length} and ${embFlip.length}`);
  }
  return { xnorm: xnorm(emb, embFlip, dim), ...metricsFromDistances(pairDistances(emb, embFlip, dim), issame) };
}

/**
 * insightface loops over both embedding sets (originals, then flips) and every row of each,
 * averaging np.linalg.norm of the raw rows. np.linalg.norm sums through BLAS ddot, whose order
 * depends on the CPU, so this agrees to ~1e-15 relative, far below the 6 printed decimals.
 */
export function xnorm(emb: Float32Array, embFlip: Float32Array, dim: number): number {
  let sum = 0;
  let rows = 0;
  for (const m of [emb, embFlip]) {
    for (let o = 0; o < m.length; o += dim, rows++) sum += Math.sqrt(einsumSquares(m, o, dim));
  }
  return sum / rows;
}

/** Squared L2 distance per pair between the L2-normalised sums emb + embFlip, as insightface. */
export function pairDistances(emb: Float32Array, embFlip: Float32Array, dim: number): Float64Array {
  const pairs = emb.length / dim / 2;
  const a = new Float64Array(dim);
  const b = new Float64Array(dim);
  const sq = new Float64Array(dim);
  const dist = new Float64Array(pairs);
  for (let p = 0; p < pairs; p++) {
    normalizedSum(emb, embFlip, 2 * p * dim, dim, a);
    normalizedSum(emb, embFlip, (2 * p + 1) * dim, dim, b);
    for (let k = 0; k < dim; k++) {
      const d = a[k]! - b[k]!;
      sq[k] = d * d;
    }
    dist[p] = pairwiseSum(sq, 0, dim); // np.sum(np.square(diff), 1)
  }
  return dist;
}

/** sklearn.preprocessing.normalize of one summed row (insightface's embeddings are float64 arrays). */
function normalizedSum(emb: Float32Array, embFlip: Float32Array, offset: number, dim: number, out: Float64Array): void {
  for (let k = 0; k < dim; k++) {
    out[k] = emb[offset + k]! + embFlip[offset + k]!;
    // sklearn's check_array refuses such input, so insightface stops here too.
    if (!Number.isFinite(out[k]!)) throw new RangeError(`verification: embedding row ${offset / dim} holds NaN or Infinity (did training diverge?)`);
  }
  let norm = Math.sqrt(einsumSquares(out, 0, dim));
  // sklearn leaves (near-)zero rows unscaled instead of dividing by 0: a zero row stays zero, at
  // distance 1 from any unit row. (sklearn < 1.0 did this for exactly 0 only; the difference is
  // for norms below 2.2e-15.)
  if (norm < 10 * Number.EPSILON) norm = 1;
  for (let k = 0; k < dim; k++) out[k]! /= norm;
}

/**
 * Σ x², in the order of numpy's einsum('ij,ij->i') (sklearn's row_norms) on x86-64: two float64
 * lanes, each block of 8 taken back to front, multiply then add, lanes summed last. This makes the
 * normalised rows bit-identical to sklearn's there (numpy 1.26 and 2.4 checked); other builds
 * (e.g. ARM, with fused multiply-add) may differ by an ulp.
 */
function einsumSquares(x: Float32Array | Float64Array, start: number, n: number): number {
  let lane0 = 0;
  let lane1 = 0;
  let i = 0;
  for (; n - i >= 8; i += 8) {
    for (let b = start + i + 6; b >= start + i; b -= 2) {
      lane0 = x[b]! * x[b]! + lane0;
      lane1 = x[b + 1]! * x[b + 1]! + lane1;
    }
  }
  for (; i < n; i += 2) {
    lane0 = x[start + i]! * x[start + i]! + lane0;
    if (i + 1 < n) lane1 = x[start + i + 1]! * x[start + i + 1]! + lane1;
  }
  return lane0 + lane1;
}

/** numpy's pairwise summation, the order of np.sum / np.add.reduce over a contiguous run. */
function pairwiseSum(a: Float64Array, start: number, n: number): number {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[start + i]!;
    return s;
  }
  if (n <= 128) {
    // Eight running sums, combined as a tree, then the tail: numpy's unrolled leaf.
    let [r0, r1, r2, r3] = [a[start]!, a[start + 1]!, a[start + 2]!, a[start + 3]!];
    let [r4, r5, r6, r7] = [a[start + 4]!, a[start + 5]!, a[start + 6]!, a[start + 7]!];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const o = start + i;
      r0 += a[o]!;
      r1 += a[o + 1]!;
      r2 += a[o + 2]!;
      r3 += a[o + 3]!;
      r4 += a[o + 4]!;
      r5 += a[o + 5]!;
      r6 += a[o + 6]!;
      r7 += a[o + 7]!;
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  const half = Math.floor(n / 2) - (Math.floor(n / 2) % 8);
  return pairwiseSum(a, start, half) + pairwiseSum(a, start + half, n - half);
}

const npMean = (xs: number[]): number => pairwiseSum(Float64Array.from(xs), 0, xs.length) / xs.length;
/** np.std: population std, squares of deviations from np.mean summed pairwise. */
function npStd(xs: number[]): number {
  const mean = npMean(xs);
  return Math.sqrt(npMean(xs.map((x) => (x - mean) * (x - mean))));
}

/** Per threshold t and fold f, how many same / different pairs of f have dist < t. */
interface Counts {
  same: Int32Array; // [t * FOLDS + f]
  diff: Int32Array;
  sameAll: Int32Array; // [t], over all folds
  diffAll: Int32Array;
}

/**
 * One sweep up the sorted distances: a pair joins the counts of threshold t once dist < t (strict,
 * as np.less). A NaN distance sorts last and is never below a threshold.
 */
function countBelow(dist: Float64Array, issame: readonly boolean[], order: Uint32Array, fold: Uint8Array, thresholds: Float64Array): Counts {
  const c: Counts = {
    same: new Int32Array(thresholds.length * FOLDS), diff: new Int32Array(thresholds.length * FOLDS),
    sameAll: new Int32Array(thresholds.length), diffAll: new Int32Array(thresholds.length),
  };
  const same = new Int32Array(FOLDS);
  const diff = new Int32Array(FOLDS);
  let p = 0;
  let sameAll = 0;
  for (let t = 0; t < thresholds.length; t++) {
    for (; p < dist.length && dist[order[p]!]! < thresholds[t]!; p++) {
      const k = order[p]!;
      if (issame[k]) {
        same[fold[k]!]!++;
        sameAll++;
      } else {
        diff[fold[k]!]!++;
      }
    }
    c.same.set(same, t * FOLDS);
    c.diff.set(diff, t * FOLDS);
    c.sameAll[t] = sameAll;
    c.diffAll[t] = p - sameAll;
  }
  return c;
}

interface Totals {
  sameIn: number[]; // per fold
  diffIn: number[];
  same: number;
  diff: number;
}

/** The metrics from given distances (the squared L2 distance of each pair) and same flags. */
export function metricsFromDistances(dist: Float64Array, issame: readonly boolean[]): DistanceMetrics {
  if (dist.length !== issame.length) throw new RangeError(`verification: ${dist.length} distances but ${issame.length} issame flags`);
  const folds = kfold(dist.length, FOLDS);
  const fold = new Uint8Array(dist.length);
  folds.forEach((f, i) => fold.fill(i, f.start, f.end));
  const key = (k: number): number => (Number.isNaN(dist[k]!) ? Infinity : dist[k]!);
  const order = Uint32Array.from(dist.keys()).sort((x, y) => key(x) - key(y) || x - y);
  const totals: Totals = { sameIn: [], diffIn: [], same: 0, diff: 0 };
  for (const f of folds) {
    const same = issame.slice(f.start, f.end).filter(Boolean).length;
    totals.sameIn.push(same);
    totals.diffIn.push(f.end - f.start - same);
    totals.same += same;
    totals.diff += f.end - f.start - same;
  }
  const acc = countBelow(dist, issame, order, fold, ACC_THRESHOLDS);
  return {
    pairs: dist.length,
    accuracy: accuracy(acc, totals, folds),
    val: val(countBelow(dist, issame, order, fold, VAL_THRESHOLDS), totals, folds, dist, issame),
    roc: roc(acc, totals),
  };
}

/** Per fold: the first threshold with the most correct training pairs, scored on the fold. */
function accuracy(c: Counts, tot: Totals, folds: Fold[]): AccuracyResult {
  const accs: number[] = [];
  const chosen: number[] = [];
  folds.forEach((fold, f) => {
    const diffTrain = tot.diff - tot.diffIn[f]!;
    let best = -1;
    let bestT = 0;
    for (let t = 0; t < ACC_THRESHOLDS.length; t++) {
      const tp = c.sameAll[t]! - c.same[t * FOLDS + f]!;
      const tn = diffTrain - (c.diffAll[t]! - c.diff[t * FOLDS + f]!);
      // Counts over one training set order as insightface's accuracies (count / size) do.
      if (tp + tn > best) [best, bestT] = [tp + tn, t];
    }
    const correct = c.same[bestT * FOLDS + f]! + tot.diffIn[f]! - c.diff[bestT * FOLDS + f]!;
    accs.push(correct / (fold.end - fold.start));
    chosen.push(ACC_THRESHOLDS[bestT]!);
  });
  return { mean: npMean(accs), std: npStd(accs), folds: accs, thresholds: chosen };
}

function roc(c: Counts, tot: Totals): Roc {
  const n = ACC_THRESHOLDS.length;
  const tpr = new Float64Array(n);
  const fpr = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    // np.mean(axis=0) adds the folds in order; a fold without positives (negatives) counts 0.
    let sTpr = 0;
    let sFpr = 0;
    for (let f = 0; f < FOLDS; f++) {
      sTpr += tot.sameIn[f] === 0 ? 0 : c.same[t * FOLDS + f]! / tot.sameIn[f]!;
      sFpr += tot.diffIn[f] === 0 ? 0 : c.diff[t * FOLDS + f]! / tot.diffIn[f]!;
    }
    tpr[t] = sTpr / FOLDS;
    fpr[t] = sFpr / FOLDS;
  }
  return { thresholds: ACC_THRESHOLDS.slice(), tpr, fpr };
}

function val(c: Counts, tot: Totals, folds: Fold[], dist: Float64Array, issame: readonly boolean[]): ValResult {
  const vals: number[] = [];
  const fars: number[] = [];
  const chosen: number[] = [];
  const far = new Float64Array(VAL_THRESHOLDS.length);
  for (const [f, fold] of folds.entries()) {
    const diffTrain = tot.diff - tot.diffIn[f]!;
    const noTrain = missingPairs(f, 'training set', tot.same - tot.sameIn[f]!, diffTrain);
    if (noTrain) return noTrain;
    let max = 0;
    for (let t = 0; t < far.length; t++) {
      far[t] = (c.diffAll[t]! - c.diff[t * FOLDS + f]!) / diffTrain;
      max = Math.max(max, far[t]!);
    }
    const threshold = max >= FAR_TARGET ? interpolateSlinear(far, VAL_THRESHOLDS, FAR_TARGET) : 0;
    const noTest = missingPairs(f, 'held-out fold', tot.sameIn[f]!, tot.diffIn[f]!);
    if (noTest) return noTest;
    let ta = 0;
    let fa = 0;
    for (let k = fold.start; k < fold.end; k++) if (dist[k]! < threshold) issame[k] ? ta++ : fa++;
    vals.push(ta / tot.sameIn[f]!);
    fars.push(fa / tot.diffIn[f]!);
    chosen.push(threshold);
  }
  return { kind: 'defined', mean: npMean(vals), std: npStd(vals), far: npMean(fars), folds: vals, fars, thresholds: chosen };
}

/** Where insightface would divide by zero: same pairs first, as its val = TA / n_same comes first. */
function missingPairs(f: number, where: string, same: number, diff: number): ValResult | undefined {
  if (same > 0 && diff > 0) return undefined;
  return { kind: 'undefined', reason: `fold ${f}: its ${where} has no ${same === 0 ? 'same-identity' : 'different-identity'} pair` };
}

/**
 * scipy's interp1d(x, y, kind='slinear')(at) for non-decreasing x with repeats, as scipy 0.19–1.9.0
 * evaluated it (since 1.9.1 it raises "Expect x to not have duplicates", which breaks insightface):
 * a degree-1 B-spline on the knots [x0, x0, x1, …, x_last, x_last]. Its interval search stops at
 * the last j with x[j] ≤ at, but never past the second-to-last point; de Boor's recursion then
 * gives 0 when that interval is empty (x[j] = x[j+1], only possible when x_last = at).
 */
export function interpolateSlinear(x: Float64Array, y: Float64Array, at: number): number {
  let j = x.length - 2;
  for (let q = 1; q < x.length - 1; q++) {
    if (x[q]! > at) {
      j = q - 1;
      break;
    }
  }
  const xa = x[j]!;
  const xb = x[j + 1]!;
  if (xa === xb) return 0;
  const w = 1 / (xb - xa);
  return y[j]! * (w * (xb - at)) + y[j + 1]! * (w * (at - xa));
}

/**
 * The lines insightface prints: '[%s]XNorm: %f' and '[%s]Accuracy-Flip: %1.5f+-%1.5f', plus VAL
 * in the format of the (commented-out) line in its verification.py. Its always-zero
 * '[%s]Accuracy: 0.00000+-0.00000' line is left out.
 */
export function formatLines(name: string, r: VerificationResult): string[] {
  const lines = [
    `[${name}]XNorm: ${pyFixed(r.xnorm, 6)}`,
    `[${name}]Accuracy-Flip: ${pyFixed(r.accuracy.mean, 5)}+-${pyFixed(r.accuracy.std, 5)}`,
  ];
  if (r.val.kind === 'defined') {
    lines.push(`[${name}]Validation rate: ${pyFixed(r.val.mean, 5)}+-${pyFixed(r.val.std, 5)} @ FAR=${pyFixed(r.val.far, 5)}`);
  } else {
    lines.push(`[${name}]Validation rate: undefined (${r.val.reason})`);
  }
  return lines;
}

/**
 * Python's '%.<digits>f': the exact binary value rounded half to even (JS toFixed rounds exact
 * halves up, e.g. 0.015625 → '0.01563' where Python prints '0.01562'). Exact for digits ≤ 12.
 */
export function pyFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const a = Math.abs(x);
  const [whole, frac] = (a >= 1e21 ? `${BigInt(a)}.${'0'.repeat(100)}` : a.toFixed(100)).split('.') as [string, string];
  let n = BigInt(whole + frac.slice(0, digits));
  const next = frac[digits]!;
  const restZero = /^0*$/.test(frac.slice(digits + 1));
  if (next > '5' || (next === '5' && (!restZero || n % 2n === 1n))) n += 1n;
  const s = n.toString().padStart(digits + 1, '0');
  return digits === 0 ? sign + s : `${sign}${s.slice(0, -digits)}.${s.slice(-digits)}`;
}
