// 2-D convolution with MXNet/PyTorch symmetric padding, NHWC, no bias.
//
// insightface pads every 3×3 conv by 1 on all sides, also with stride 2: output row i reads input
// rows 2i−1 … 2i+1. TensorFlow's 'SAME' pads an even input by (0, 1) instead, so row i would read
// 2i … 2i+2 — a one-pixel shift per stride-2 layer. We therefore pad explicitly and convolve VALID
// (the original TF2 project did the same with ZeroPadding2D).
//
// Four implementations compute the same function:
// - 'plain': tf.pad + tf.conv2d(..., 'valid') and tfjs autodiff (any backend);
// - 'onednn' (the default): the same, except that a stride-1 conv whose symmetric padding equals
//   TF's 'SAME' (odd k, pad (k − 1)/2) uses 'SAME' and skips the padded copy and its gradient's
//   slice. With oneDNN on, TF runs oneDNN's kernels for all three conv ops.
// - 'eigen-dw' (native only): pad + VALID conv, but the filter gradient calls Conv2DBackpropFilter
//   with padding 'EXPLICIT' (all zeros), for which TF 2.21 has no oneDNN kernel and runs its own
//   (im2col + GEMM). NOTES measured that faster than oneDNN's filter gradient on its machine;
// - 'explicit' (native only): no padded copy at all; forward, input and filter gradients all use
//   TF's EXPLICIT padding: oneDNN's forward conv, TF's own kernels for both gradients.
// On this machine (AMD EPYC with AVX-512) oneDNN's gradients won, the reverse of NOTES: an r50
// train step took ≈ 3.7 CPU-s with 'onednn', 3.7–4.0 'plain', 4.2 'eigen-dw', 4.9 'explicit'
// (node dist/bench/model.js --all); 'onednn' also peaks 0.5 GiB lower than 'plain'.
// Which kernel TF picks for EXPLICIT padding is undocumented: test/model/conv.test.ts guards it.
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { AttrValue, NativeOps } from './native.js';

export type ConvImpl = 'plain' | 'onednn' | 'eigen-dw' | 'explicit';

export interface ConvGeom {
  stride: number;
  /** Symmetric zero padding on each spatial side. */
  pad: number;
}

export type Conv2d = (x: Tensor4D, w: Tensor4D, g: ConvGeom) => Tensor4D;

type Padding = 'VALID' | 'EXPLICIT';

function convAttrs(stride: number, padding: Padding, pad: number): Record<string, AttrValue> {
  const a: Record<string, AttrValue> = {
    T: { type: 'dtype', value: 'float32' },
    strides: { type: 'ints', value: [1, stride, stride, 1] },
    padding: { type: 'string', value: padding },
    data_format: { type: 'string', value: 'NHWC' },
    dilations: { type: 'ints', value: [1, 1, 1, 1] },
    use_cudnn_on_gpu: { type: 'bool', value: true },
  };
  if (padding === 'EXPLICIT') a.explicit_paddings = { type: 'ints', value: [0, 0, pad, pad, pad, pad, 0, 0] };
  return a;
}

/** Conv2DBackpropFilter on the native backend; `padding` 'EXPLICIT' selects TF's Eigen kernel. */
export function convFilterGrad(tf: Tf, nat: NativeOps, x: Tensor4D, dy: Tensor4D, filterShape: number[],
  stride: number, padding: Padding, pad: number): Tensor4D {
  const sizes = tf.tensor1d(filterShape, 'int32');
  const [dw] = nat.run('Conv2DBackpropFilter', convAttrs(stride, padding, pad), [x, sizes, dy], 1);
  sizes.dispose();
  return dw as Tensor4D;
}

/** A native conv whose forward / input-gradient use `fwd` padding and filter gradient `dw`. */
function nativeConv(tf: Tf, nat: NativeOps, g: ConvGeom, fwd: Padding, dwPadding: Padding): (x: Tensor4D, w: Tensor4D) => Tensor4D {
  // With VALID the caller has padded x already, so the op itself pads nothing.
  const pad = fwd === 'EXPLICIT' ? g.pad : 0;
  const attrs = convAttrs(g.stride, fwd, pad);
  return tf.customGrad((x, w, save) => {
    const xt = x as Tensor4D;
    const wt = w as Tensor4D;
    (save as (ts: Tensor[]) => void)([xt, wt]);
    const [y] = nat.run('Conv2D', attrs, [xt, wt], 1);
    return {
      value: y as Tensor4D,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sw] = saved as [Tensor4D, Tensor4D];
        const sizes = tf.tensor1d(sx.shape, 'int32');
        const [dx] = nat.run('Conv2DBackpropInput', attrs, [sizes, sw, dy], 1);
        sizes.dispose();
        const dw = convFilterGrad(tf, nat, sx, dy as Tensor4D, sw.shape, g.stride, dwPadding, pad);
        return [dx!, dw];
      },
    };
  }) as (x: Tensor4D, w: Tensor4D) => Tensor4D;
}

const padSpatial = (tf: Tf, x: Tensor4D, p: number): Tensor4D =>
  p === 0 ? x : tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);

/**
 * A strided 1×1 conv (the projection shortcuts) is a 1×1 conv of every s-th pixel: computed that
 * way it does s² less work, and it avoids a oneDNN kernel that corrupts the heap in the backward
 * pass for few channels (≤ 8) at large sizes (seen with TF 2.21: SIGSEGV at 4→8 channels, 112×112).
 */
const subsampled = (tf: Tf, x: Tensor4D, w: Tensor4D, g: ConvGeom): Tensor4D => {
  const [n, h, wd, c] = x.shape;
  const s = g.stride;
  const [oh, ow] = [Math.ceil(h / s), Math.ceil(wd / s)];
  // Every s-th pixel without stridedSlice (which has no gradient in tfjs): pad to a multiple of s,
  // split each spatial axis into (out, s) and keep offset 0.
  const padded = h === oh * s && wd === ow * s ? x : tf.pad(x, [[0, 0], [0, oh * s - h], [0, ow * s - wd], [0, 0]]);
  const grid = tf.reshape(padded, [n, oh, s, ow, s, c]);
  const picked = tf.reshape(tf.slice(grid, [0, 0, 0, 0, 0, 0], [n, oh, 1, ow, 1, c]), [n, oh, ow, c]) as Tensor4D;
  return tf.conv2d(picked, w, 1, 'valid');
};
const isStrided1x1 = (w: Tensor4D, g: ConvGeom): boolean => w.shape[0] === 1 && w.shape[1] === 1 && g.pad === 0 && g.stride > 1;

/** The conv function for `impl`; native implementations fall back to 'plain' without `nat`. */
export function makeConv2d(tf: Tf, impl: ConvImpl, nat: NativeOps | undefined): Conv2d {
  const padValid: Conv2d = (x, w, g) => (isStrided1x1(w, g) ? subsampled(tf, x, w, g) : tf.conv2d(padSpatial(tf, x, g.pad), w, g.stride, 'valid'));
  if (impl === 'plain') return padValid;
  if (impl === 'onednn' || !nat) {
    return (x, w, g) => (g.stride === 1 && 2 * g.pad + 1 === w.shape[0] && w.shape[0] === w.shape[1]
      ? tf.conv2d(x, w, 1, 'same')
      : padValid(x, w, g));
  }
  // One customGrad wrapper per geometry: they close over the attributes.
  const cache = new Map<string, (x: Tensor4D, w: Tensor4D) => Tensor4D>();
  const op = (g: ConvGeom, fwd: Padding): ((x: Tensor4D, w: Tensor4D) => Tensor4D) => {
    const key = `${g.stride}/${g.pad}/${fwd}`;
    let f = cache.get(key);
    if (!f) cache.set(key, (f = nativeConv(tf, nat, g, fwd, 'EXPLICIT')));
    return f;
  };
  switch (impl) {
    case 'eigen-dw': return (x, w, g) => op(g, 'VALID')(padSpatial(tf, x, g.pad), w);
    case 'explicit': return (x, w, g) => op(g, 'EXPLICIT')(x, w);
  }
}

/** Output size of a conv over `size` input pixels. */
export const convOut = (size: number, k: number, g: ConvGeom): number => Math.floor((size + 2 * g.pad - k) / g.stride) + 1;
