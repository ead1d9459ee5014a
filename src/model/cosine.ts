// cos θ between L2-normalised embeddings ê (B × E) and the class columns of W (E × C).
//
// Plain: ê · (W / ‖W‖) materialises a normalised E × C copy of W (175 MB for MS1M) forward and
// several more backward. Fast: cos = (ê · W) ⊙ rn with rn_c = 1/‖W_:,c‖, and the gradient by hand
// (g = ∂L/∂cos, G = g ⊙ rn broadcast over rows, s_c = Σ_b g_bc·cos_bc):
//   ∂L/∂ê = G · Wᵀ
//   ∂L/∂W = êᵀ · G − W ⊙ (rn² ⊙ s)        (the second term is ∂rn/∂W's share)
// A zero column has rn clamped (‖W‖² ≥ 1e-24) and contributes zeros, never NaN.
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';

const rnorm = (tf: Tf, w: Tensor2D): Tensor1D =>
  tf.rsqrt(tf.maximum(tf.sum(tf.square(w), 0), 1e-24)) as Tensor1D;

export function cosinePlain(tf: Tf, eHat: Tensor2D, w: Tensor2D): Tensor2D {
  return tf.matMul(eHat, tf.mul(w, rnorm(tf, w)));
}

export function cosineFast(tf: Tf, eHat: Tensor2D, w: Tensor2D): Tensor2D {
  const op = tf.customGrad((e, wi, save) => {
    const [et, wt] = [e as Tensor2D, wi as Tensor2D];
    const rn = rnorm(tf, wt);
    const cos = tf.mul(tf.matMul(et, wt), rn) as Tensor2D;
    (save as (ts: Tensor[]) => void)([et, wt, rn, cos]);
    return {
      value: cos,
      // In a tidy: tfjs runs gradFunc outside one, and its E × C temporaries would otherwise live
      // until the whole backward pass ends.
      gradFunc: (dy: Tensor, saved: Tensor[]) => tf.tidy(() => {
        const [se, sw, srn, scos] = saved as [Tensor2D, Tensor2D, Tensor1D, Tensor2D];
        const g = tf.mul(dy, srn) as Tensor2D;
        const de = tf.matMul(g, sw, false, true);
        const v = tf.mul(tf.square(srn), tf.sum(tf.mul(dy, scos), 0));
        const dw = tf.sub(tf.matMul(se, g, true, false), tf.mul(sw, v));
        return [de, dw];
      }),
    };
  });
  return op(eHat, w) as Tensor2D;
}
