// PReLU: y = x for x > 0, α·x otherwise; α per channel (shape [C]) or per element ([H, W, C]).
//
// Fast form (NOTES): y = x + (α − 1)·min(x, 0), three elementwise kernels instead of tfjs-node's
// five (relu, abs, sub, mul, add), with a hand-written gradient:
//   ∂L/∂x = ∂L/∂y where x ≥ 0, α·∂L/∂y where x < 0;   ∂L/∂α = Σ ∂L/∂y · min(x, 0) over broadcast axes.
// It keeps x, not min(x, 0): tfjs holds every forward tensor, x included, until the backward pass
// ends anyway, so the PReLU adds no tensor of its own to what the step holds (trunk.ts recomputes x).
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { PreluConfig } from './config.js';
import type { Ctx } from './kernels.js';
import type { ParamSpec } from './params.js';

/** `size` is the spatial size where the PReLU sits (per-element α needs it). */
export function preluParams(cfg: PreluConfig, name: string, c: number, size: number): ParamSpec {
  const shape = cfg.kind === 'channel' ? [c] : [size, size, c];
  return { name: `${name}/alpha`, shape, role: 'alpha', init: { kind: 'const', value: cfg.init } };
}

/** x + (α − 1)·min(x, 0). */
export const preluValue = (tf: Tf, x: Tensor, alpha: Tensor): Tensor =>
  tf.tidy(() => tf.add(x, tf.mul(tf.minimum(x, 0), tf.sub(alpha, 1))));

/** [∂L/∂x, ∂L/∂α] from ∂L/∂y; α's axes are the trailing ones of x. */
export function preluGrad(tf: Tf, dy: Tensor, x: Tensor, alpha: Tensor): [Tensor, Tensor] {
  return tf.tidy(() => {
    const dx = tf.where(tf.less(x, 0), tf.mul(dy, alpha), dy);
    const lead = [...Array(dy.rank - alpha.rank).keys()];
    return [dx, tf.sum(tf.mul(dy, tf.minimum(x, 0)), lead)];
  });
}

/** The fast PReLU with its custom gradient; α broadcasts against the trailing axes of x. */
export function preluFast(tf: Tf, x: Tensor, alpha: Tensor): Tensor {
  const op = tf.customGrad((xi, a, save) => {
    const [xt, at] = [xi as Tensor, a as Tensor];
    (save as (ts: Tensor[]) => void)([xt, at]);
    return {
      value: preluValue(tf, xt, at),
      gradFunc: (dy: Tensor, [sx, sa]: Tensor[]) => preluGrad(tf, dy, sx!, sa!),
    };
  });
  return op(x, alpha);
}

export function preluForward(ctx: Ctx, name: string, x: Tensor): Tensor {
  const alpha = ctx.p.get(`${name}/alpha`);
  return ctx.k.choice.prelu === 'fast' ? preluFast(ctx.tf, x, alpha) : ctx.tf.prelu(x, alpha);
}
