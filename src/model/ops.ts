// Small tensor helpers shared by the layers.
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';

/** The value of `x` with no gradient flowing back into it (tf.stop_gradient; tfjs has none). */
export function stopGradient<T extends Tensor>(tf: Tf, x: T): T {
  const op = tf.customGrad((t, _save) => ({
    value: tf.clone(t as Tensor),
    gradFunc: (dy: Tensor) => tf.zerosLike(dy),
  }));
  return op(x) as T;
}

/** x / max(‖x‖, 1e-12) along the last axis (torch.nn.functional.normalize). The clamp is on the
 *  squared norm so that a zero row gives zeros and a finite gradient, never NaN. */
export function l2Normalize<T extends Tensor>(tf: Tf, x: T): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-24)))) as T;
}

/** x > threshold as a boolean mask, computed off the gradient tape: tfjs has no gradient for
 *  comparisons, so a mask derived from a differentiated tensor would break tf.grad. */
export function greaterMask(tf: Tf, x: Tensor, threshold: number): Tensor {
  const op = tf.customGrad((t, _save) => ({
    value: tf.greater(t as Tensor, threshold),
    gradFunc: (dy: Tensor) => tf.zerosLike(dy),
  }));
  return op(x);
}
