// Group normalisation (Wu & He 2018) for NHWC and (N, C) inputs: the C channels are split into
// G contiguous groups of C/G, and each sample is normalised over (H, W, C/G) per group. No batch
// statistics, so training and inference compute the same thing.
//
// The original project reshaped NHWC straight to (N, G, H, W, C/G)-shaped memory, which groups rows
// of pixels instead of channels. Here the channel axis itself is split: (N, H, W, G, C/G).
import type { Tensor } from '@tensorflow/tfjs';
import type { NormConfig } from './config.js';
import { affineOf, affineParams, type AffineOpts } from './batchnorm.js';
import type { Ctx } from './kernels.js';
import type { ParamSpec } from './params.js';

export type GroupNormConfig = Extract<NormConfig, { kind: 'group' }>;

export const gnParams = (name: string, c: number, o: AffineOpts): ParamSpec[] => affineParams(name, c, o);

export function gnForward(ctx: Ctx, name: string, cfg: GroupNormConfig, x: Tensor, o: AffineOpts): Tensor {
  const { tf } = ctx;
  const c = x.shape[x.rank - 1]!;
  const g = cfg.groups;
  if (c % g !== 0) throw new Error(`group norm '${name}': ${g} groups do not divide ${c} channels`);
  const a = affineOf(ctx, name, o);
  return tf.tidy(() => {
    const grouped = tf.reshape(x, [...x.shape.slice(0, -1), g, c / g]);
    // Every axis but the batch and the group axis (second to last).
    const axes = [...Array(grouped.rank).keys()].filter((i) => i !== 0 && i !== grouped.rank - 2);
    const { mean, variance } = tf.moments(grouped, axes, true);
    const xn = tf.reshape(tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, cfg.eps))), x.shape);
    const scaled = a.gamma ? tf.mul(xn, a.gamma) : xn;
    return tf.add(scaled, a.beta);
  });
}
