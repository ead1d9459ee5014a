// A slow, literal transcription of insightface's verification protocol, kept independent of
// src/eval: loops over folds, thresholds and pairs; plain sequential sums; scipy's slinear
// interpolation written out as its B-spline evaluation. Division by zero throws, as Python does.

export class ZeroDivision extends Error {}

export interface ReferenceResult {
  accuracies: number[];
  bestThresholds: number[];
  accMean: number;
  accStd: number;
  tpr: number[];
  fpr: number[];
  val: { mean: number; std: number; far: number; thresholds: number[] } | { error: ZeroDivision };
}

/** sklearn KFold(10, shuffle=False): [train indices, test indices] per fold. */
export function referenceFolds(n: number, k = 10): Array<[number[], number[]]> {
  if (k > n) throw new Error(`Cannot have number of splits n_splits=${k} greater than the number of samples: n_samples=${n}.`);
  const out: Array<[number[], number[]]> = [];
  let current = 0;
  for (let f = 0; f < k; f++) {
    const size = Math.floor(n / k) + (f < n % k ? 1 : 0);
    const test: number[] = [];
    const train: number[] = [];
    for (let i = 0; i < n; i++) (i >= current && i < current + size ? test : train).push(i);
    out.push([train, test]);
    current += size;
  }
  return out;
}

function sum(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
const mean = (xs: number[]): number => sum(xs) / xs.length;
const std = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

function calculateAccuracy(threshold: number, dist: number[], same: boolean[]): [number, number, number] {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < dist.length; i++) {
    const predict = dist[i]! < threshold;
    if (predict && same[i]) tp++;
    if (predict && !same[i]) fp++;
    if (!predict && !same[i]) tn++;
    if (!predict && same[i]) fn++;
  }
  const tpr = tp + fn === 0 ? 0 : tp / (tp + fn);
  const fpr = fp + tn === 0 ? 0 : fp / (fp + tn);
  return [tpr, fpr, (tp + tn) / dist.length];
}

function calculateValFar(threshold: number, dist: number[], same: boolean[]): [number, number] {
  let ta = 0;
  let fa = 0;
  let nSame = 0;
  let nDiff = 0;
  for (let i = 0; i < dist.length; i++) {
    const predict = dist[i]! < threshold;
    if (predict && same[i]) ta++;
    if (predict && !same[i]) fa++;
    if (same[i]) nSame++;
    else nDiff++;
  }
  if (nSame === 0 || nDiff === 0) throw new ZeroDivision('float division by zero');
  return [ta / nSame, fa / nDiff];
}

/** scipy < 1.9.1: interp1d(x, y, 'slinear') = BSpline(t=[x0, x..., x_last], c=y, k=1), evaluated at `at`. */
export function referenceSlinear(xIn: number[], y: number[], at: number): number {
  const x = [...xIn]; // already sorted here: FAR grows with the threshold
  const t = [x[0]!, ...x, x[x.length - 1]!];
  const k = 1;
  const n = t.length - k - 1;
  // find_interval: t[l] <= at < t[l+1], starting from l = k
  let l = k;
  while (at < t[l]! && l !== k) l -= 1;
  l += 1;
  while (at >= t[l]! && l !== n) l += 1;
  const interval = l - 1;
  // _deBoor_D with m = 0: the k+1 nonzero basis values
  const h = [1, 0];
  const hh = [0];
  for (let j = 1; j <= k; j++) {
    hh[0] = h[0]!;
    h[0] = 0;
    for (let m = 1; m <= j; m++) {
      const xb = t[interval + m]!;
      const xa = t[interval + m - j]!;
      if (xb === xa) {
        h[m] = 0;
        continue;
      }
      const w = hh[m - 1]! / (xb - xa);
      h[m - 1]! += w * (xb - at);
      h[m] = w * (at - xa);
    }
  }
  let out = 0;
  for (let a = 0; a <= k; a++) out = out + y[interval + a - k]! * h[a]!;
  return out;
}

function pick<T>(xs: readonly T[], idx: number[]): T[] {
  return idx.map((i) => xs[i]!);
}

export function referenceMetrics(distIn: ArrayLike<number>, issame: readonly boolean[]): ReferenceResult {
  const dist = Array.from(distIn);
  const same = [...issame];
  const folds = referenceFolds(dist.length);
  const thresholds = Array.from({ length: 400 }, (_, i) => i * 0.01);
  const tprs: number[][] = [];
  const fprs: number[][] = [];
  const accuracies: number[] = [];
  const bestThresholds: number[] = [];
  for (const [train, test] of folds) {
    const accTrain = thresholds.map((th) => calculateAccuracy(th, pick(dist, train), pick(same, train))[2]);
    let best = 0;
    for (let i = 1; i < accTrain.length; i++) if (accTrain[i]! > accTrain[best]!) best = i;
    const rates = thresholds.map((th) => calculateAccuracy(th, pick(dist, test), pick(same, test)));
    tprs.push(rates.map((r) => r[0]));
    fprs.push(rates.map((r) => r[1]));
    accuracies.push(calculateAccuracy(thresholds[best]!, pick(dist, test), pick(same, test))[2]);
    bestThresholds.push(thresholds[best]!);
  }
  const tpr = thresholds.map((_, i) => mean(tprs.map((row) => row[i]!)));
  const fpr = thresholds.map((_, i) => mean(fprs.map((row) => row[i]!)));
  return { accuracies, bestThresholds, accMean: mean(accuracies), accStd: std(accuracies), tpr, fpr, val: referenceVal(dist, same, folds) };
}

function referenceVal(dist: number[], same: boolean[], folds: Array<[number[], number[]]>): ReferenceResult['val'] {
  const thresholds = Array.from({ length: 4000 }, (_, i) => i * 0.001);
  const vals: number[] = [];
  const fars: number[] = [];
  const chosen: number[] = [];
  try {
    for (const [train, test] of folds) {
      const dTrain = pick(dist, train);
      const sTrain = pick(same, train);
      const farTrain = thresholds.map((th) => calculateValFar(th, dTrain, sTrain)[1]);
      const threshold = Math.max(...farTrain) >= 1e-3 ? referenceSlinear(farTrain, thresholds, 1e-3) : 0;
      const [v, f] = calculateValFar(threshold, pick(dist, test), pick(same, test));
      vals.push(v);
      fars.push(f);
      chosen.push(threshold);
    }
  } catch (e) {
    if (e instanceof ZeroDivision) return { error: e };
    throw e;
  }
  return { mean: mean(vals), std: std(vals), far: mean(fars), thresholds: chosen };
}

/** insightface's test(): XNorm over raw rows, then sum, sklearn-normalise (zero rows stay zero), distances. */
export function referenceEmbeddings(emb: Float32Array, flip: Float32Array, dim: number): { xnorm: number; dist: number[] } {
  const rows = emb.length / dim;
  let xnorm = 0;
  for (const m of [emb, flip]) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += m[r * dim + k]! * m[r * dim + k]!;
      xnorm += Math.sqrt(s);
    }
  }
  xnorm /= 2 * rows;
  const unit: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const v = Array.from({ length: dim }, (_, k) => emb[r * dim + k]! + flip[r * dim + k]!);
    let s = 0;
    for (const x of v) s += x * x;
    const norm = Math.sqrt(s) < 10 * Number.EPSILON ? 1 : Math.sqrt(s);
    unit.push(v.map((x) => x / norm));
  }
  const dist: number[] = [];
  for (let p = 0; p < rows / 2; p++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += (unit[2 * p]![k]! - unit[2 * p + 1]![k]!) ** 2;
    dist.push(s);
  }
  return { xnorm, dist };
}

// Inputs shared by the tests and the benchmark.

/** mulberry32: a small seeded generator, so a failure can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Pairs whose same-identity rows share a base vector, so accuracies land well inside (0.5, 1). */
export function makePairs(seed: number, pairs: number, dim: number, noise = 0.9): { emb: Float32Array; embFlip: Float32Array; issame: boolean[] } {
  const r = rng(seed);
  const emb = new Float32Array(2 * pairs * dim);
  const embFlip = new Float32Array(2 * pairs * dim);
  const issame = Array.from({ length: pairs }, () => r() < 0.5);
  const base = new Float64Array(dim);
  for (let p = 0; p < pairs; p++) {
    for (let k = 0; k < dim; k++) base[k] = gauss(r) * 20;
    for (const row of [2 * p, 2 * p + 1]) {
      const fresh = row === 2 * p + 1 && !issame[p];
      for (let k = 0; k < dim; k++) {
        const v = fresh ? gauss(r) * 20 : base[k]! + gauss(r) * 20 * noise;
        emb[row * dim + k] = v;
        embFlip[row * dim + k] = v + gauss(r) * 5;
      }
    }
  }
  return { emb, embFlip, issame };
}

/** The next double after x towards +∞ (dir 1) or −∞ (dir −1). */
export function nextAfter(x: number, dir: 1 | -1): number {
  if (x === 0) return dir > 0 ? Number.MIN_VALUE : -Number.MIN_VALUE;
  const b = new Float64Array([x]);
  const u = new BigInt64Array(b.buffer);
  u[0]! += BigInt(dir * Math.sign(x));
  return b[0]!;
}

/** Each accuracy threshold as i*0.01 and as i/100, every 7th VAL threshold both ways, and the doubles beside them. */
export function thresholdNeighbours(): number[] {
  const candidates: number[] = [];
  for (let i = 0; i < 400; i++) candidates.push(i * 0.01, i / 100);
  for (let j = 0; j < 4000; j += 7) candidates.push(j * 0.001, j / 1000);
  return candidates.flatMap((x) => [x, nextAfter(x, -1), nextAfter(x, 1)]).filter((x) => x >= 0);
}

/**
 * 10 folds of 1000 different + 10 same pairs, one different pair per fold at 0.5 and the rest
 * beyond the last threshold: every training FAR is 9/9000 = 1e-3 exactly from 0.501 to the end.
 */
export function farEndsAtTarget(): { dist: Float64Array; issame: boolean[] } {
  const dist: number[] = [];
  const issame: boolean[] = [];
  for (let f = 0; f < 10; f++) {
    for (let i = 0; i < 1010; i++) {
      issame.push(i < 10);
      dist.push(i < 10 ? 0.25 : i === 10 ? 0.5 : 3.9995);
    }
  }
  return { dist: Float64Array.from(dist), issame };
}
