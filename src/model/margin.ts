// Margin-based logits on cos θ (B × C), given the labels: every class gets s·cos θ except the
// target, which gets s·φ(cos θ):
//   ArcFace   φ = cos(θ + m) if cos θ > th = cos(π − m), else cos θ − mm, mm = sin(π − m)·m
//             (past θ = π − m, cos(θ + m) would increase again; the linear branch keeps φ falling)
//   CosFace   φ = cos θ − m
//   combined  φ = cos(m1·θ + m2) − m3 (insightface's general form, no threshold)
// cos θ is clamped to [−1, 1] by the caller; sin θ = √max(1 − cos²θ, 1e-12) so that cos θ = ±1
// exactly gives finite values and gradients (the original's unclamped √(1 − cos²) gave NaN).
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { MarginConfig } from './config.js';
import { greaterMask } from './ops.js';

export type AngularMargin = Exclude<MarginConfig, { kind: 'softmax' }>;

const SIN2_MIN = 1e-12;

export function arcfaceConstants(m: number): { cosM: number; sinM: number; th: number; mm: number } {
  return { cosM: Math.cos(m), sinM: Math.sin(m), th: Math.cos(Math.PI - m), mm: Math.sin(Math.PI - m) * m };
}

const sinOf = (tf: Tf, t: Tensor): Tensor => tf.sqrt(tf.maximum(tf.sub(1, tf.square(t)), SIN2_MIN));

/** φ(t) for target cosines t (before the scale s). */
export function targetCos(tf: Tf, cfg: AngularMargin, t: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    switch (cfg.kind) {
      case 'arcface': {
        const k = arcfaceConstants(cfg.m);
        const cosTm = tf.sub(tf.mul(t, k.cosM), tf.mul(sinOf(tf, t), k.sinM));
        return tf.where(greaterMask(tf, t, k.th), cosTm, tf.sub(t, k.mm)) as Tensor1D;
      }
      case 'cosface': return tf.sub(t, cfg.m) as Tensor1D;
      case 'combined': {
        // θ by atan2 rather than acos: acos' gradient is infinite at ±1.
        const theta = tf.atan2(sinOf(tf, t), t);
        return tf.sub(tf.cos(tf.add(tf.mul(theta, cfg.m1), cfg.m2)), cfg.m3) as Tensor1D;
      }
    }
  });
}

const oneHotF = (tf: Tf, labels: Tensor, classes: number): Tensor =>
  tf.tidy(() => tf.cast(tf.oneHot(tf.cast(labels, 'int32'), classes), 'float32'));

/** s·cos θ with the target column replaced by s·φ(cos θ): tfjs ops and autodiff ('plain'). */
export function marginLogits(tf: Tf, cfg: AngularMargin, cos: Tensor2D, labels: Tensor1D): Tensor2D {
  return tf.tidy(() => {
    const mask = oneHotF(tf, labels, cos.shape[1]);
    const t = tf.sum(tf.mul(cos, mask), 1) as Tensor1D;
    const delta = tf.sub(targetCos(tf, cfg, t), t);
    return tf.mul(tf.add(cos, tf.mul(mask, tf.expandDims(delta, 1))), cfg.s) as Tensor2D;
  });
}

// The same function with two custom gradients around its (B × C) parts, so that the tape holds no
// (B × C) one-hot masks or products: t = cos[b, label_b] (gradient: dt scattered to the label
// column) and s·(cos + δ at the label) (gradient: s·dy, and s·dy[b, label_b] for δ). φ(t) on the B
// target cosines stays with autodiff. Same values; gradients equal up to rounding.

/** cos[b, label_b]. */
function targetOf(tf: Tf, cos: Tensor2D, labels: Tensor1D): Tensor1D {
  const op = tf.customGrad((c, save) => {
    const ct = c as Tensor2D;
    (save as (ts: Tensor[]) => void)([labels]);
    return {
      value: tf.tidy(() => tf.sum(tf.mul(ct, oneHotF(tf, labels, ct.shape[1])), 1)) as Tensor1D,
      gradFunc: (dy: Tensor, [l]: Tensor[]) => tf.tidy(() => tf.mul(oneHotF(tf, l!, ct.shape[1]), tf.expandDims(dy, 1))),
    };
  });
  return op(cos) as Tensor1D;
}

/** s·(cos + δ_b at column label_b). */
function withTarget(tf: Tf, cos: Tensor2D, delta: Tensor1D, labels: Tensor1D, s: number): Tensor2D {
  const op = tf.customGrad((c, d, save) => {
    const [ct, dt] = [c as Tensor2D, d as Tensor1D];
    (save as (ts: Tensor[]) => void)([labels]);
    return {
      value: tf.tidy(() => tf.mul(tf.add(ct, tf.mul(oneHotF(tf, labels, ct.shape[1]), tf.expandDims(dt, 1))), s)) as Tensor2D,
      gradFunc: (dy: Tensor, [l]: Tensor[]) => tf.tidy(() =>
        [tf.mul(dy, s), tf.mul(tf.sum(tf.mul(dy, oneHotF(tf, l!, ct.shape[1])), 1), s)]),
    };
  });
  return op(cos, delta) as Tensor2D;
}

/** marginLogits with the (B × C) parts behind custom gradients ('fast'). */
export function marginLogitsFast(tf: Tf, cfg: AngularMargin, cos: Tensor2D, labels: Tensor1D): Tensor2D {
  return tf.tidy(() => {
    const t = targetOf(tf, cos, labels);
    return withTarget(tf, cos, tf.sub(targetCos(tf, cfg, t), t) as Tensor1D, labels, cfg.s);
  });
}
