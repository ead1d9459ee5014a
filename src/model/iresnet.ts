// IR-ResNet (insightface "iresnet", the original project's "modified ResNet50"), NHWC:
//
//   stem:   conv3×3 (stride 1, pad 1) → norm → PReLU
//   stages: IBasicBlock units; the first unit of each stage has stride 2 and a projection shortcut
//           (conv1×1 stride 2 → norm): 112 → 56 → 28 → 14 → 7
//   unit:   norm → conv3×3 → norm → PReLU → conv3×3 (stride s) → norm, + shortcut, no activation
//   head E: norm → dropout → flatten → FC (bias) → norm without γ = the embedding
//
// Layer names are the original project's Keras names (conv0, bn0, prelu0, stage1_unit1_bn1, …,
// E_DenseLayer, fc1), whatever the normalisation kind.
import type { Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { UNITS, checkBackbone, type BackboneConfig } from './config.js';
import { convInit, denseBiasInit, denseInit } from './init.js';
import type { Ctx, ForwardOptions } from './kernels.js';
import { normForward, normParams } from './norm.js';
import type { ParamSpec } from './params.js';
import { preluForward, preluParams } from './prelu.js';
import { trunkApplies, trunkForward } from './trunk.js';

export interface Unit {
  name: string;
  cin: number;
  cout: number;
  stride: 1 | 2;
  /** Projection shortcut (conv1×1 + norm) instead of the identity. */
  proj: boolean;
  /** Spatial size of the unit's input. */
  size: number;
}

export function units(c: BackboneConfig): Unit[] {
  const out: Unit[] = [];
  let cin = c.stem;
  let size = c.inputSize;
  UNITS[c.depth].forEach((n, s) => {
    for (let u = 0; u < n; u++) {
      const first = u === 0;
      out.push({ name: `stage${s + 1}_unit${u + 1}`, cin, cout: c.widths[s]!, stride: first ? 2 : 1, proj: first, size });
      cin = c.widths[s]!;
      if (first) size /= 2;
    }
  });
  return out;
}

/** Spatial size after the four stride-2 stages. */
export const finalSize = (c: BackboneConfig): number => c.inputSize / 16;

const kernel = (c: BackboneConfig, name: string, k: number, cin: number, cout: number): ParamSpec =>
  ({ name: `${name}/kernel`, shape: [k, k, cin, cout], role: 'kernel', init: convInit(c.init, k, cin, cout) });

function unitParams(c: BackboneConfig, u: Unit): ParamSpec[] {
  const n = u.name;
  return [
    ...normParams(c.norm, `${n}_bn1`, u.cin),
    kernel(c, `${n}_conv1`, 3, u.cin, u.cout),
    ...normParams(c.norm, `${n}_bn2`, u.cout),
    preluParams(c.prelu, `${n}_relu1`, u.cout, u.size),
    kernel(c, `${n}_conv2`, 3, u.cout, u.cout),
    ...normParams(c.norm, `${n}_bn3`, u.cout),
    ...(u.proj ? [kernel(c, `${n}_conv1sc`, 1, u.cin, u.cout), ...normParams(c.norm, `${n}_sc`, u.cout)] : []),
  ];
}

/** Every backbone parameter in a fixed order: names, shapes, roles, initialisers. */
export function backboneParams(c: BackboneConfig): ParamSpec[] {
  const errs = checkBackbone(c);
  if (errs.length) throw new Error(`invalid backbone config:\n  ${errs.join('\n  ')}`);
  const w4 = c.widths[3];
  const flat = finalSize(c) ** 2 * w4;
  return [
    kernel(c, 'conv0', 3, 3, c.stem),
    ...normParams(c.norm, 'bn0', c.stem),
    preluParams(c.prelu, 'prelu0', c.stem, c.inputSize),
    ...units(c).flatMap((u) => unitParams(c, u)),
    ...normParams(c.norm, 'bn1', w4),
    { name: 'E_DenseLayer/kernel', shape: [flat, c.embedding], role: 'kernel', init: denseInit(c.init, flat, c.embedding) },
    { name: 'E_DenseLayer/bias', shape: [c.embedding], role: 'bias', init: denseBiasInit(c.init, flat) },
    ...normParams(c.norm, 'fc1', c.embedding, { scale: false }),
  ];
}

function unitForward(ctx: Ctx, c: BackboneConfig, u: Unit, x: Tensor4D, f: ForwardOptions): Tensor4D {
  const { tf, p, k } = ctx;
  const n = u.name;
  const norm = (name: string, t: Tensor) => normForward(ctx, c.norm, name, t, f) as Tensor4D;
  let y = norm(`${n}_bn1`, x);
  y = k.conv(y, p.get(`${n}_conv1/kernel`) as Tensor4D, { stride: 1, pad: 1 });
  y = norm(`${n}_bn2`, y);
  y = preluForward(ctx, `${n}_relu1`, y) as Tensor4D;
  y = k.conv(y, p.get(`${n}_conv2/kernel`) as Tensor4D, { stride: u.stride, pad: 1 });
  y = norm(`${n}_bn3`, y);
  const sc = u.proj
    ? norm(`${n}_sc`, k.conv(x, p.get(`${n}_conv1sc/kernel`) as Tensor4D, { stride: u.stride, pad: 0 }))
    : x;
  return tf.add(y, sc);
}

function headForward(ctx: Ctx, c: BackboneConfig, x: Tensor4D, f: ForwardOptions): Tensor2D {
  const { tf, p } = ctx;
  let h: Tensor = normForward(ctx, c.norm, 'bn1', x, f);
  if (f.training && c.dropout > 0) h = tf.dropout(h, c.dropout, undefined, f.seed);
  h = tf.reshape(h, [x.shape[0], -1]);
  h = tf.add(tf.matMul(h as Tensor2D, p.get('E_DenseLayer/kernel') as Tensor2D), p.get('E_DenseLayer/bias'));
  return normForward(ctx, c.norm, 'fc1', h, f, { scale: false }) as Tensor2D;
}

export interface Backbone {
  readonly config: BackboneConfig;
  /** Images (N, S, S, 3), already scaled to about [−1, 1] → embeddings (N, embedding). */
  forward(x: Tensor4D, f: ForwardOptions): Tensor2D;
}

/** The backbone over parameters already in ctx.p (see backboneParams). */
export function createBackbone(ctx: Ctx, c: BackboneConfig): Backbone {
  const us = units(c);
  return {
    config: c,
    forward(x, f) {
      const s = c.inputSize;
      if (x.rank !== 4 || x.shape[1] !== s || x.shape[2] !== s || x.shape[3] !== 3) {
        throw new Error(`backbone input must be (N, ${s}, ${s}, 3), got (${x.shape.join(', ')})`);
      }
      const { tf, p, k } = ctx;
      return tf.tidy(() => {
        if (trunkApplies(ctx, c, f)) return headForward(ctx, c, trunkForward(ctx, c, us, x, f), f);
        let h = k.conv(x, p.get('conv0/kernel') as Tensor4D, { stride: 1, pad: 1 });
        h = normForward(ctx, c.norm, 'bn0', h, f) as Tensor4D;
        h = preluForward(ctx, 'prelu0', h) as Tensor4D;
        for (const u of us) h = unitForward(ctx, c, u, h, f);
        return headForward(ctx, c, h, f);
      });
    },
  };
}
