// PReLU: y = x for x > 0, α·x otherwise; α per channel (shape [C]) or per element ([H, W, C]).
//
// Fast form (NOTES): y = x + (α − 1)·min(x, 0), three elementwise kernels instead of tfjs-node's
// five (relu, abs, sub, mul, add), with a hand-written gradient that keeps only m = min(x, 0):
//   ∂L/∂x = ∂L/∂y where m = 0, α·∂L/∂y where m < 0;   ∂L/∂α = Σ ∂L/∂y · m over broadcast axes.
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

/** The fast PReLU with its custom gradient; α broadcasts against the trailing axes of x. */
export function preluFast(tf: Tf, x: Tensor, alpha: Tensor): Tensor {
  const op = tf.customGrad((xi, a, save) => {
    const [xt, at] = [xi as Tensor, a as Tensor];
    const m = tf.minimum(xt, 0);
    (save as (ts: Tensor[]) => void)([m, at]);
    return {
      value: tf.add(xt, tf.mul(m, tf.sub(at, 1))),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sm, sa] = saved as [Tensor, Tensor];
        const dx = tf.where(tf.less(sm, 0), tf.mul(dy, sa), dy);
        // α's axes are the trailing ones of x: sum over the leading rest.
        const lead = [...Array(dy.rank - sa.rank).keys()];
        const da = tf.sum(tf.mul(dy, sm), lead);
        return [dx, da];
      },
    };
  });
  return op(x, alpha);
}

export function preluForward(ctx: Ctx, name: string, x: Tensor): Tensor {
  const alpha = ctx.p.get(`${name}/alpha`);
  return ctx.k.choice.prelu === 'fast' ? preluFast(ctx.tf, x, alpha) : ctx.tf.prelu(x, alpha);
}
