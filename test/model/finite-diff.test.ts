// Gradients against central finite differences of the forward itself — independent of tfjs
// autodiff, which the other model tests compare the custom gradients with — for the ArcFace head
// loss (both sides of the cos θ > th fallback), batch renorm in training mode (r and d clipped,
// and not), group norm, and the hand-written backward pass of trunk.ts on a tiny IR-ResNet.
//
// Numerics. The forward runs in float32. A central difference (f(x₊) − f(x₋)) / (x₊ − x₋) has a
// truncation error ≈ h²·|f'''|/6 and a rounding error ≈ δf/h, δf being the rounding noise of one
// evaluation of f. Both are kept small on purpose:
// - the denominator is the step actually taken, x₊ − x₋ between the float32 values written, not
//   2h (x ± h rounds to float32);
// - the layer tests' loss is Σ w·y with fixed random w, summed in float64 from the layer's float32
//   outputs, so δf is only the outputs' own rounding (≈ 2⁻²⁴·|y| each, ~1e-6 in all), not a float32
//   sum's; the ArcFace loss is the real cross-entropy, a float32 scalar: δf ≈ a few ulp of L;
// - inputs are O(1), and h is chosen per function where truncation and rounding meet, measured
//   here: 1e-2 for batch renorm (errors ≤ 3e-5 of the largest gradient); 3e-3 for group norm, whose
//   8-value groups curve more (≤ 5e-5; 3e-4 at h = 1e-2); 5e-3 for the ArcFace loss (L ≈ 50, so
//   δf ≈ 4e-6, and embedding rows of norm ≈ 2 tame s = 64: 6e-5; at h = 1e-4 rounding alone gives
//   4e-3). The tolerance, 1e-3, is ≥ 15× those errors.
// Errors are max |numeric − analytic| / max |analytic| over a tensor (relErr).
// Kinks are kept out of reach: every target cosine is ≥ 0.05 from th (where φ jumps) and |cos θ| ≤
// 0.98 (the clamp at ±1); renorm's r and d are ≥ 20% from their clipping bounds or well past them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor, Tensor1D, Tensor4D, Variable } from '@tensorflow/tfjs';
import { REGULARIZATION, type HeadConfig, type NormConfig } from '../../src/model/config.js';
import { createHead, crossEntropy, headParams } from '../../src/model/head.js';
import { FAST } from '../../src/model/kernels.js';
import { arcfaceConstants } from '../../src/model/margin.js';
import { createFaceModel } from '../../src/model/model.js';
import { normForward, normParams } from '../../src/model/norm.js';
import type { RenormConfig } from '../../src/model/renorm.js';
import { getTf, isNative, layerCtx, relErr, tinyBackbone } from './helpers.js';

const tf = await getTf();
const impls = isNative(tf) ? (['fast', 'plain'] as const) : (['plain'] as const);

function setVar(v: Variable, values: Float32Array): void {
  tf.tidy(() => { v.assign(tf.tensor(values, v.shape)); });
}

/** Central differences of f with respect to every element of v (v is restored afterwards). */
function numericGrad(v: Variable, f: () => number, h: number): Float64Array {
  const base = v.dataSync().slice() as Float32Array;
  const buf = base.slice();
  const out = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const [xp, xm] = [Math.fround(base[i]! + h), Math.fround(base[i]! - h)];
    buf[i] = xp;
    setVar(v, buf);
    const fp = f();
    buf[i] = xm;
    setVar(v, buf);
    const fm = f();
    buf[i] = base[i]!;
    out[i] = (fp - fm) / (xp - xm);
  }
  setVar(v, base);
  return out;
}

/** Σ w·y in float64. */
function dot(y: Tensor, w: Float32Array): number {
  const v = y.dataSync();
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * w[i]!;
  return s;
}

/** Deterministic O(1) values. */
const values = (n: number, seed: number, scale = 1, offset = 0): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => offset + scale * Math.sin(1.7 * i + seed) * Math.cos(0.3 * i * seed + 1));

/** Analytic gradients of f (a scalar tensor) with respect to vars, as arrays. */
function analytic(f: () => Tensor, vars: Variable[]): Float32Array[] {
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(() => f() as never, vars);
    return vars.map((v) => grads[v.name]!.dataSync() as Float32Array);
  });
}

function check(what: string, numeric: Float64Array, exact: Float32Array, tol: number): void {
  const e = relErr(numeric, exact);
  assert.ok(e < tol, `${what}: relative error ${e.toExponential(2)} ≥ ${tol}`);
}

// ---- ArcFace -----------------------------------------------------------------------------------

const E = 4;
const ARC: HeadConfig = { classes: 5, margin: { kind: 'arcface', s: 64, m: 0.5 }, init: 'original' };

for (const impl of impls) {
  test(`ArcFace head loss ('${impl}'): ∂L/∂e and ∂L/∂W match finite differences on both sides of th`, () => {
    const ctx = layerCtx(tf, headParams(ARC, E), impl);
    const head = createHead(ctx, ARC);
    const w = ctx.p.get('classifier/kernel');
    setVar(w, values(E * ARC.classes, 3));
    // Rows near (or opposite to) their label's column: target cosines on both sides of th.
    const cols = tf.tidy(() => tf.transpose(tf.div(w, tf.norm(w, 2, 0, true))).arraySync() as number[][]);
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32') as Tensor1D;
    const towards = [0.2, -0.93, 0.5, -0.6];
    const noise = values(4 * E, 7, 0.25);
    const eRows = towards.flatMap((a, b) => cols[b]!.map((c, j) => 2 * (a * c + noise[b * E + j]!)));
    const e = tf.variable(tf.tensor2d(eRows, [4, E]));
    const loss = () => crossEntropy(tf, head.forward(e, labels).logits, labels);
    const cos = tf.tidy(() => head.forward(e, labels).cos.arraySync());
    const targets = cos.map((row, b) => row[b]!);
    const { th } = arcfaceConstants(0.5);
    assert.ok(targets.some((t) => t > th + 0.05) && targets.some((t) => t < th - 0.05), `target cosines ${targets}`);
    assert.ok(targets.every((t) => Math.abs(t - th) > 0.05), `a target cosine is too close to th: ${targets}`);
    assert.ok(cos.flat().every((c) => Math.abs(c) <= 0.98), 'the clamp at ±1 is out of reach');
    const [de, dw] = analytic(loss, [e, w]);
    const f = () => tf.tidy(() => loss().dataSync()[0]!);
    check('∂L/∂e', numericGrad(e, f, 5e-3), de!, 1e-3);
    check('∂L/∂W', numericGrad(w, f, 5e-3), dw!, 1e-3);
    e.dispose();
    ctx.p.dispose();
  });
}

// ---- batch renorm ------------------------------------------------------------------------------

const C = 3;
const SHAPE = [4, 2, 2, C];
const RENORM: RenormConfig = { kind: 'renorm', eps: 2e-5, momentum: 0.9, renormMomentum: 0.9, rmax: 3, rmin: 1 / 3, dmax: 5, warmupSteps: 0 };
const STATE = ['moving_mean', 'moving_variance', 'moving_stddev', 'renorm_mean', 'renorm_stddev'];

/** Batch mean and √(biased variance + ε) per channel, in float64. */
function batchStats(x: Float32Array): { mean: number[]; sd: number[] } {
  const n = x.length / C;
  const mean = Array.from({ length: C }, (_, c) => x.reduce((a, v, i) => (i % C === c ? a + v : a), 0) / n);
  const sd = mean.map((m, c) => Math.sqrt(x.reduce((a, v, i) => (i % C === c ? a + (v - m) ** 2 : a), 0) / n + RENORM.eps));
  return { mean, sd };
}

function renormSetup(impl: 'fast' | 'plain') {
  const ctx = layerCtx(tf, normParams(RENORM, 'bn', C), impl);
  const gamma = ctx.p.get('bn/gamma');
  const beta = ctx.p.get('bn/beta');
  setVar(gamma, Float32Array.from([0.8, 1.3, -0.6]));
  setVar(beta, Float32Array.from([0.1, -0.4, 0.3]));
  const x = tf.variable(tf.tensor(values(4 * 2 * 2 * C, 1, 1.5, 0.4), SHAPE));
  const w = values(x.size, 2);
  const setState = (renormMean: number[], renormSd: number[]) => {
    setVar(ctx.p.get('bn/renorm_mean'), Float32Array.from(renormMean));
    setVar(ctx.p.get('bn/renorm_stddev'), Float32Array.from(renormSd));
    for (const k of STATE.slice(0, 3)) setVar(ctx.p.get(`bn/${k}`), Float32Array.from({ length: C }, () => 1));
  };
  const forward = () => normForward(ctx, RENORM, 'bn', x, { training: true });
  return { ctx, gamma, beta, x, w, setState, forward };
}

for (const impl of impls) {
  test(`batch renorm ('${impl}'), r and d clipped on every channel: gradients match finite differences of the forward`, () => {
    const { ctx, gamma, beta, x, w, setState, forward } = renormSetup(impl);
    const { mean, sd } = batchStats(x.dataSync() as Float32Array);
    // σ_R far below σ_B on channels 0 and 2 (r at rmax), far above on 1 (r at rmin); μ_R far off.
    const sR = [sd[0]! / 10, sd[1]! * 10, sd[2]! / 10];
    const mR = [mean[0]! - 8 * sR[0]!, mean[1]! + 8 * sR[1]!, mean[2]! - 8 * sR[2]!];
    const r = sd.map((s, c) => s / sR[c]!);
    const d = mean.map((m, c) => (m - mR[c]!) / sR[c]!);
    assert.ok(r.every((v) => v > 1.2 * RENORM.rmax || v < RENORM.rmin / 1.2) && d.every((v) => Math.abs(v) > 1.2 * RENORM.dmax), `r ${r}, d ${d}`);
    // Each evaluation starts from the same state (the forward moves the renorm averages).
    const f = () => { setState(mR, sR); return tf.tidy(() => dot(forward(), w)); };
    setState(mR, sR);
    const [dx, dg, db] = analytic(() => tf.sum(tf.mul(forward(), tf.tensor(w, SHAPE))), [x, gamma, beta]);
    check('∂L/∂x', numericGrad(x, f, 1e-2), dx!, 1e-3);
    check('∂L/∂γ', numericGrad(gamma, f, 1e-2), dg!, 1e-3);
    check('∂L/∂β', numericGrad(beta, f, 1e-2), db!, 1e-3);
    x.dispose();
    ctx.p.dispose();
  });

  test(`batch renorm ('${impl}'), r and d not clipped: gradients are those of the forward with r, d held constant`, () => {
    const { ctx, gamma, beta, x, w, setState, forward } = renormSetup(impl);
    const base = batchStats(x.dataSync() as Float32Array);
    const r0 = [1.4, 0.7, 1.1];
    const d0 = [0.8, -1.5, 0.2];
    // Renorm averages that give r0, d0 for the batch at hand, whatever x is: holding r and d
    // constant as Keras' stop_gradient does, so that the differences see the same function.
    const freeze = () => {
      const { mean, sd } = batchStats(x.dataSync() as Float32Array);
      const sR = sd.map((s, c) => s / r0[c]!);
      setState(mean.map((m, c) => m - d0[c]! * sR[c]!), sR);
    };
    assert.ok(r0.every((v) => v < RENORM.rmax / 1.2 && v > 1.2 * RENORM.rmin) && d0.every((v) => Math.abs(v) < RENORM.dmax / 1.2));
    freeze();
    const [dx, dg, db] = analytic(() => tf.sum(tf.mul(forward(), tf.tensor(w, SHAPE))), [x, gamma, beta]);
    const frozen = () => { freeze(); return tf.tidy(() => dot(forward(), w)); };
    check('∂L/∂x', numericGrad(x, frozen, 1e-2), dx!, 1e-3);
    check('∂L/∂γ', numericGrad(gamma, frozen, 1e-2), dg!, 1e-3);
    check('∂L/∂β', numericGrad(beta, frozen, 1e-2), db!, 1e-3);
    // With the averages fixed instead, r and d follow x and the forward is the affine
    // γ·(x − μ_R)/σ_R + β: its derivative is not the gradient (the point of stop_gradient).
    const sR = base.sd.map((s, c) => s / r0[c]!);
    const mR = base.mean.map((m, c) => m - d0[c]! * sR[c]!);
    const moving = () => { setState(mR, sR); return tf.tidy(() => dot(forward(), w)); };
    assert.ok(relErr(numericGrad(x, moving, 1e-2), dx!) > 0.1);
    x.dispose();
    ctx.p.dispose();
  });
}

// ---- group norm --------------------------------------------------------------------------------

const GN: NormConfig = { kind: 'group', groups: 2, eps: 2e-5 };

// 8 values per (sample, group) in both layouts.
for (const shape of [[2, 2, 2, 4], [5, 16]]) {
  test(`group norm (${shape.join('×')}): ∂x, ∂γ, ∂β match finite differences`, () => {
    const c = shape.at(-1)!;
    const ctx = layerCtx(tf, normParams(GN, 'gn', c), 'fast');
    const gamma = ctx.p.get('gn/gamma');
    const beta = ctx.p.get('gn/beta');
    setVar(gamma, values(c, 8, 0.8, 0.6));
    setVar(beta, values(c, 9, 0.4));
    const n = shape.reduce((a, b) => a * b, 1);
    // Channel scales differ, so that a wrong grouping would show.
    const x = tf.variable(tf.mul(tf.tensor(values(n, 5, 1.2, 0.3), shape), tf.tensor1d(values(c, 10, 0.8, 1.4))));
    const w = values(n, 6);
    const forward = () => normForward(ctx, GN, 'gn', x, { training: true });
    const f = () => tf.tidy(() => dot(forward(), w));
    const [dx, dg, db] = analytic(() => tf.sum(tf.mul(forward(), tf.tensor(w, shape))), [x, gamma, beta]);
    check('∂L/∂x', numericGrad(x, f, 3e-3), dx!, 1e-3);
    check('∂L/∂γ', numericGrad(gamma, f, 3e-3), dg!, 1e-3);
    check('∂L/∂β', numericGrad(beta, f, 3e-3), db!, 1e-3);
    x.dispose();
    ctx.p.dispose();
  });
}

// ---- the hand-written trunk backward (trunk.ts) -------------------------------------------------

test("trunk 'recompute': the tape's gradients (batch norm, renorm), and finite differences along the gradient", { skip: !isNative(tf) && 'native backend only' }, () => {
  const x = tf.variable(tf.randomNormal([8, 32, 32, 3], 0, 1, 'float32', 11) as Tensor4D);
  const labels = tf.tensor1d([0, 1, 2, 3, 4, 5, 0, 1], 'int32') as Tensor1D;
  const model = (trunk: 'tape' | 'recompute', norm: NormConfig) => createFaceModel(tf, {
    backbone: tinyBackbone({ dropout: 0, norm }),
    head: { classes: 6, margin: { kind: 'arcface', s: 16, m: 0.5 }, init: 'original' },
    regularization: REGULARIZATION.none,
  }, { impl: { ...FAST, trunk }, seed: 4 });
  for (const norm of [{ kind: 'batch', eps: 2e-5, momentum: 0.9 }, { ...RENORM, rmax: 1.1, rmin: 0.9, dmax: 0.1 }] as NormConfig[]) {
    const grads = (trunk: 'tape' | 'recompute') => {
      const m = model(trunk, norm);
      const g = analytic(() => crossEntropy(tf, m.forward(x, labels, { training: true }).logits, labels), [x, ...m.trainableVariables()]);
      m.dispose();
      return g;
    };
    // Bit-identical with TF 2.21's oneDNN kernels; 1e-5 leaves room for builds whose inference-mode
    // batch norm (the recomputation) rounds differently from the training op.
    const [tape, manual] = [grads('tape'), grads('recompute')];
    tape.forEach((g, i) => assert.ok(relErr(manual[i]!, g) < 1e-5, `${norm.kind}: gradient ${i} differs from the tape's by ${relErr(manual[i]!, g)}`));
  }
  // Finite differences through ~20 layers of float32 (batch statistics over 8 samples make it
  // strongly curved): the embedding-weighted loss Σ w·e (float64 sum) along the gradient's own
  // direction u (unit RMS) for the input and six parameters, (L(θ + h·u) − L(θ − h·u)) against
  // Σ ∂L/∂θ·(θ₊ − θ₋), with h = 3e-4 of the tensor's RMS. Measured: errors ≤ 5e-3 (1e-2 at 1e-3
  // and at 1e-4, the first from curvature, the second from rounding), hence the looser 2e-2.
  const m = model('recompute', { kind: 'batch', eps: 2e-5, momentum: 0.9 });
  const w = values(8 * 8, 12);
  const embed = () => m.embed(x, { training: true });
  const names = ['conv0/kernel', 'prelu0/alpha', 'stage1_unit1_conv1sc/kernel', 'stage2_unit2_bn1/gamma', 'stage3_unit1_conv2/kernel', 'stage4_unit2_relu1/alpha'];
  const vars = [x, ...names.map((n) => m.params.get(n))];
  const exact = analytic(() => tf.sum(tf.mul(embed(), tf.tensor(w, [8, 8]))), vars);
  vars.forEach((v, k) => {
    const base = v.dataSync().slice() as Float32Array;
    const g = exact[k]!;
    const rms = Math.sqrt(base.reduce((a, b) => a + b * b, 0) / base.length);
    const gNorm = Math.sqrt(g.reduce((a, b) => a + b * b, 0));
    const step = (i: number) => 3e-4 * rms * Math.sqrt(base.length) * g[i]! / gNorm;
    const plus = base.map((b, i) => b + step(i));
    const minus = base.map((b, i) => b - step(i));
    setVar(v, plus);
    const lp = tf.tidy(() => dot(embed(), w));
    setVar(v, minus);
    const lm = tf.tidy(() => dot(embed(), w));
    setVar(v, base);
    const want = g.reduce((a, gi, i) => a + gi * (plus[i]! - minus[i]!), 0);
    const err = Math.abs(lp - lm - want) / Math.abs(want);
    assert.ok(err < 2e-2, `${k === 0 ? 'input' : names[k - 1]}: directional derivative off by ${err.toExponential(2)}`);
  });
  m.dispose();
  x.dispose();
});
