// The L2 penalty as a function of the variables, for the training loop to add to the loss (or to
// skip when its optimiser applies decoupled weight decay to `regularizedParams` itself).
import type { Scalar, Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { RegularizationConfig } from './config.js';
import type { Param, ParamStore } from './params.js';

export function regularizedParams(store: ParamStore, reg: RegularizationConfig): Param[] {
  if (reg.kind === 'none') return [];
  const roles = new Set<string>(reg.roles);
  return store.trainable().filter((p) => roles.has(p.spec.role));
}

/** Σ w² with a one-kernel gradient (2w·dy); autodiff would add a broadcast and a square's
 *  gradient, each as large as w (43.9M floats for the MS1M class weights). */
function sumSquares(tf: Tf, w: Tensor): Scalar {
  const op = tf.customGrad((x, save) => {
    (save as (ts: Tensor[]) => void)([x as Tensor]);
    return {
      value: tf.sum(tf.square(x as Tensor)) as Scalar,
      gradFunc: (dy: Tensor, [sx]: Tensor[]) => tf.mul(sx!, tf.mul(dy, 2)),
    };
  });
  return op(w) as Scalar;
}

/** coef·Σ w² over the regularised parameters (Keras l2(coef)); 0 for 'none'. */
export function regularizationLoss(tf: Tf, store: ParamStore, reg: RegularizationConfig): Scalar {
  const ps = regularizedParams(store, reg);
  if (reg.kind === 'none' || ps.length === 0) return tf.scalar(0);
  return tf.tidy(() => tf.mul(tf.addN(ps.map((p) => sumSquares(tf, p.v))), reg.coef) as Scalar);
}
