// The same inputs through real NumPy / scikit-learn / SciPy, computed the way insightface's
// verification.py does, compared with src/eval. Uses the reference Python that `facepipe setup
// --python` installs (npm test does), or FACEPIPE_PYTHON; skipped, saying so, when there is neither.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { findPythonRef } from '../../src/backend/python.js';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../../src/eval/npy.js';
import { formatLines, metricsFromDistances, pairDistances, verify, type DistanceMetrics } from '../../src/eval/verification.js';
import { tempDir } from '../helpers.js';
import { farEndsAtTarget, makePairs, rng, thresholdNeighbours } from './reference.js';

const python = findPythonRef();
const skip = python ? false : 'no reference Python: run `node bin/facepipe.js setup --python` (npm test does), or set FACEPIPE_PYTHON to a Python with numpy, scikit-learn and scipy';

/**
 * insightface's evaluation steps, restated with the library calls it makes. scipy ≥ 1.9.1 refuses
 * interp1d(kind='slinear') on repeated x (every FAR curve has them), so the spline that
 * interp1d built until then is constructed directly.
 */
const SCRIPT = String.raw`
import json, platform, sys
import numpy as np
from scipy.interpolate import BSpline
from sklearn.model_selection import KFold
from sklearn.preprocessing import normalize

def old_slinear(x, y, at):
    order = np.argsort(x, kind="mergesort")
    x, y = x[order], y[order]
    assert x[0] <= at <= x[-1]
    return BSpline.construct_fast(np.r_[x[0], x, x[-1]], np.ascontiguousarray(y), 1)(at)

def scores(th, d, s):
    p = np.less(d, th)
    tp, fp = np.sum(p & s), np.sum(p & ~s)
    tn, fn = np.sum(~p & ~s), np.sum(~p & s)
    tpr = 0 if tp + fn == 0 else float(tp) / float(tp + fn)
    fpr = 0 if fp + tn == 0 else float(fp) / float(fp + tn)
    return tpr, fpr, float(tp + tn) / d.size

def val_far(th, d, s):
    p = np.less(d, th)
    return float(np.sum(p & s)) / float(np.sum(s)), float(np.sum(p & ~s)) / float(np.sum(~s))

def metrics(dist, same):
    folds = list(KFold(n_splits=10, shuffle=False).split(np.arange(len(dist))))
    th = np.arange(0, 4, 0.01)
    tprs, fprs = np.zeros((10, len(th))), np.zeros((10, len(th)))
    acc, best = np.zeros(10), []
    for f, (tr, te) in enumerate(folds):
        train = np.array([scores(t, dist[tr], same[tr])[2] for t in th])
        b = np.argmax(train)
        for i, t in enumerate(th):
            tprs[f, i], fprs[f, i], _ = scores(t, dist[te], same[te])
        acc[f] = scores(th[b], dist[te], same[te])[2]
        best.append(float(th[b]))
    out = dict(acc=acc.tolist(), best=best, mean=float(np.mean(acc)), std=float(np.std(acc)),
               tpr=np.mean(tprs, 0).tolist(), fpr=np.mean(fprs, 0).tolist())
    th = np.arange(0, 4, 0.001)
    try:
        vals, fars, chosen = np.zeros(10), np.zeros(10), []
        for f, (tr, te) in enumerate(folds):
            far_train = np.array([val_far(t, dist[tr], same[tr])[1] for t in th])
            t = old_slinear(far_train, th, 1e-3) if np.max(far_train) >= 1e-3 else 0.0
            vals[f], fars[f] = val_far(t, dist[te], same[te])
            chosen.append(float(t))
        out["val"] = dict(mean=float(np.mean(vals)), std=float(np.std(vals)), far=float(np.mean(fars)), thresholds=chosen)
    except ZeroDivisionError:
        out["val"] = dict(error="ZeroDivisionError")
    return out

def embeddings(case):
    raw = [np.load(case["emb"]).astype(np.float64), np.load(case["flip"]).astype(np.float64)]
    xnorm = sum(np.linalg.norm(row) for m in raw for row in m) / sum(len(m) for m in raw)
    unit = normalize(raw[0] + raw[1])
    dist = np.sum(np.square(unit[0::2] - unit[1::2]), 1)
    out = metrics(dist, np.asarray(case["issame"]))
    out.update(xnorm=xnorm, dist=dist.tolist(), numpy=np.__version__, machine=platform.machine())
    lines = ["[%s]XNorm: %f" % ("t", xnorm), "[%s]Accuracy-Flip: %1.5f+-%1.5f" % ("t", out["mean"], out["std"])]
    if "error" not in out["val"]:
        v = out["val"]
        lines.append("[%s]Validation rate: %2.5f+-%2.5f @ FAR=%2.5f" % ("t", v["mean"], v["std"], v["far"]))
    out["lines"] = lines
    return out

def npy(case):
    a = np.load(case["ours"])
    np.save(case["resave"], a)
    np.save(case["theirs"], np.arange(12, dtype="<f4").reshape(3, 4) / np.float32(7))
    return dict(shape=list(a.shape), dtype=a.dtype.str, values=a.ravel().tolist())

results = []
for case in json.load(open(sys.argv[1])):
    kind = case["kind"]
    if kind == "emb": results.append(embeddings(case))
    elif kind == "dist": results.append(metrics(np.asarray(case["dist"], dtype=np.float64), np.asarray(case["issame"])))
    else: results.append(npy(case))
json.dump(results, open(sys.argv[2], "w"))
`;

interface PyMetrics {
  acc: number[];
  best: number[];
  mean: number;
  std: number;
  tpr: number[];
  fpr: number[];
  val: { mean: number; std: number; far: number; thresholds: number[] } | { error: string };
  xnorm?: number;
  dist?: number[];
  lines?: string[];
  numpy?: string;
  machine?: string;
}

async function runPython(t: TestContext, cases: object[]): Promise<unknown[]> {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'script.py'), SCRIPT);
  await writeFile(path.join(dir, 'cases.json'), JSON.stringify(cases));
  const r = spawnSync(python!, [path.join(dir, 'script.py'), path.join(dir, 'cases.json'), path.join(dir, 'out.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
  return JSON.parse(await readFile(path.join(dir, 'out.json'), 'utf8')) as unknown[];
}

/** Largest absolute difference; a length mismatch is a failure. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Decisions (chosen thresholds, fold accuracies, undefined VAL) must be identical, numbers within 1e-12. */
function compare(label: string, ours: DistanceMetrics, py: PyMetrics): number {
  assert.deepEqual(ours.accuracy.folds, py.acc, `${label}: fold accuracies`);
  assert.deepEqual(ours.accuracy.thresholds, py.best, `${label}: chosen thresholds`);
  const diffs = [Math.abs(ours.accuracy.mean - py.mean), Math.abs(ours.accuracy.std - py.std), maxDiff(ours.roc.tpr, py.tpr), maxDiff(ours.roc.fpr, py.fpr)];
  if ('error' in py.val) assert.equal(ours.val.kind, 'undefined', `${label}: insightface raises ${py.val.error}`);
  else {
    assert.equal(ours.val.kind, 'defined', label);
    if (ours.val.kind === 'defined') {
      diffs.push(maxDiff(ours.val.thresholds, py.val.thresholds), Math.abs(ours.val.mean - py.val.mean), Math.abs(ours.val.std - py.val.std), Math.abs(ours.val.far - py.val.far));
    }
  }
  const worst = Math.max(...diffs);
  assert.ok(worst <= 1e-12, `${label}: differs from numpy by ${worst}`);
  return worst;
}

test('embeddings → metrics agree with numpy, scikit-learn and scipy', { skip, timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t);
  const sets = [
    { name: 'cfp_fp-like 7000×512', ...makePairs(31, 7000, 512, 2.4), dim: 512 },
    { name: 'lfw-like 6000×512', ...makePairs(35, 6000, 512, 2), dim: 512 },
    { name: '6001×128', ...makePairs(32, 6001, 128, 1.3), dim: 128 },
    { name: '13×7 (odd dim)', ...makePairs(33, 13, 7), dim: 7 },
    { name: '10×3', ...makePairs(34, 10, 3), dim: 3 },
    { name: 'zero and identical rows', ...zeroAndIdentical(), dim: 4 },
  ];
  const cases = [];
  for (const [i, s] of sets.entries()) {
    await writeNpy(path.join(dir, `${i}.emb.npy`), { rows: s.emb.length / s.dim, cols: s.dim, data: s.emb });
    await writeNpy(path.join(dir, `${i}.flip.npy`), { rows: s.emb.length / s.dim, cols: s.dim, data: s.embFlip });
    cases.push({ kind: 'emb', emb: path.join(dir, `${i}.emb.npy`), flip: path.join(dir, `${i}.flip.npy`), issame: s.issame });
  }
  const out = (await runPython(t, cases)) as PyMetrics[];
  for (const [i, s] of sets.entries()) {
    const ours = verify({ emb: s.emb, embFlip: s.embFlip, dim: s.dim, issame: s.issame });
    const py = out[i]!;
    const dist = pairDistances(s.emb, s.embFlip, s.dim);
    const distDiff = maxDiff(dist, py.dist!);
    const bitDiffering = [...dist].filter((d, k) => d !== py.dist![k]).length;
    const xnormRel = Math.abs(ours.xnorm - py.xnorm!) / py.xnorm!;
    // On x86-64 our summation orders are numpy's (1.26 and 2.x checked); elsewhere einsum's SIMD
    // order may differ by an ulp.
    const exact = py.machine === 'x86_64';
    assert.ok(exact ? bitDiffering === 0 : distDiff <= 1e-15, `${s.name}: ${bitDiffering} distances differ from numpy ${py.numpy} on ${py.machine}, by up to ${distDiff}`);
    assert.ok(xnormRel <= 1e-14, `${s.name}: xnorm differs by ${xnormRel} (relative)`);
    const worst = compare(s.name, ours, py);
    assert.deepEqual(formatLines('t', ours).slice(0, py.lines!.length), py.lines, `${s.name}: printed lines`);
    t.diagnostic(`${s.name} (numpy ${py.numpy}, ${py.machine}): dist max |Δ| ${distDiff} (${bitDiffering} of ${dist.length} not bit-identical), xnorm rel ${xnormRel.toExponential(1)}, metrics max |Δ| ${worst}; ${formatLines('t', ours).join(' | ')}`);
  }
});

test('given distances (on and beside thresholds, ties, degenerate labels) agree with numpy', { skip, timeout: 600_000 }, async (t) => {
  const r = rng(41);
  const near = thresholdNeighbours();
  const sets: Array<{ name: string; dist: Float64Array; issame: boolean[] }> = [];
  for (const n of [6001, 13, 10]) {
    const dist = Float64Array.from({ length: n }, () => near[Math.floor(r() * near.length)]!);
    sets.push({ name: `threshold neighbours, n=${n}`, dist, issame: Array.from(dist, (d) => r() < (d < 1.3 ? 0.85 : 0.15)) });
  }
  const tied = Float64Array.from({ length: 1003 }, () => Math.floor(r() * 9) * 0.25);
  sets.push({ name: 'ties', dist: tied, issame: Array.from(tied, (d) => r() < (d < 1 ? 0.9 : 0.1)) });
  sets.push({ name: 'all same', dist: tied.slice(0, 100), issame: Array(100).fill(true) as boolean[] });
  sets.push({ name: 'all different', dist: tied.slice(0, 100), issame: Array(100).fill(false) as boolean[] });
  sets.push({ name: 'FAR ends exactly at 1e-3', ...farEndsAtTarget() });
  const out = (await runPython(t, sets.map((s) => ({ kind: 'dist', dist: [...s.dist], issame: s.issame })))) as PyMetrics[];
  for (const [i, s] of sets.entries()) {
    const worst = compare(s.name, metricsFromDistances(s.dist, s.issame), out[i]!);
    t.diagnostic(`${s.name}: max |Δ| ${worst}; VAL ${'error' in out[i]!.val ? 'ZeroDivisionError in numpy' : 'defined'}`);
  }
});

test('numpy reads our .npy files and writes the same bytes back; we read its files', { skip }, async (t) => {
  const dir = await tempDir(t);
  const m = { rows: 3, cols: 5, data: Float32Array.from({ length: 15 }, (_, i) => (i - 7) / 3) };
  const ours = path.join(dir, 'ours.npy');
  await writeNpy(ours, m);
  const [py] = (await runPython(t, [{ kind: 'npy', ours, resave: path.join(dir, 'resaved.npy'), theirs: path.join(dir, 'theirs.npy') }])) as Array<{ shape: number[]; dtype: string; values: number[] }>;
  assert.deepEqual(py, { shape: [3, 5], dtype: '<f4', values: [...m.data] });
  assert.deepEqual(await readFile(path.join(dir, 'resaved.npy')), encodeNpy(m));
  const theirs = await readNpy(path.join(dir, 'theirs.npy'));
  assert.deepEqual([theirs.rows, theirs.cols], [3, 4]);
  assert.deepEqual([...theirs.data], [...Float32Array.from({ length: 12 }, (_, i) => Math.fround(i / 7))]);
  assert.deepEqual(decodeNpy(encodeNpy(theirs)).data, theirs.data);
});

/** Rows that are zero (sklearn leaves them zero) or equal to each other. */
function zeroAndIdentical(): { emb: Float32Array; embFlip: Float32Array; issame: boolean[] } {
  const pairs = 30;
  const emb = new Float32Array(2 * pairs * 4);
  for (let p = 0; p < pairs; p++) {
    if (p % 3 === 1) emb.set([1, 2, 3, 4, 1, 2, 3, 4], 8 * p);
    if (p % 3 === 2) emb.set([0, 0, 0, 0, 0.5, -1, 0, 2], 8 * p);
  }
  return { emb, embFlip: emb.map((v) => v * 0.5), issame: Array.from({ length: pairs }, (_, p) => p % 2 === 0) };
}
