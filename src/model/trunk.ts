// The IR-ResNet trunk (stem + every unit) in training mode as ONE custom-gradient op with a
// hand-written backward pass, to save memory.
//
// tfjs' tape frees nothing before the whole backward pass has ended: every forward tensor (also
// those no gradient needs), every ∂L/∂activation and every temporary of a custom gradient live to
// the end. Here the forward keeps, per unit, only its input and the outputs of its convolutions
// (c1, c2 and the projection's), plus per-channel vectors; the backward pass recomputes the cheap
// rest — each norm's output in one pass (fusedRecompute), PReLU from that — and frees each saved
// tensor after its last use and each gradient as soon as it has been passed on: ~4 activations per
// unit at the peak instead of ~12 plus their gradients. Measured for r50, batch 16, 85,742
// classes (bench/train-keras.ts, the step's other tensors equal): live tensors at the peak
// 4.1 → 1.7 GiB, peak RSS 5.0 → 2.8 GiB, for ~5% more CPU time per step (the recomputation).
//
// Same numbers as the tape: the forward runs the 'fast' kernels' ops (fused batch norm, 'SAME'
// for stride-1 3×3 convs, pad + VALID for stride 2, a strided 1×1 as subsample + 1×1 like
// conv.ts), the backward calls the very TensorFlow gradient ops tfjs' autodiff calls for them, and
// the recomputed values are bit-identical (the same op on the same input). Native backend only.
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { BackboneConfig } from './config.js';
import { scaleOf } from './batchnorm.js';
import type { ConvGeom } from './conv.js';
import { fusedBackward, fusedForward, fusedRecompute, type FusedSaved } from './fused-bn.js';
import type { Unit } from './iresnet.js';
import type { Ctx, ForwardOptions } from './kernels.js';
import type { AttrValue, NativeOps } from './native.js';
import { normTraining } from './norm.js';
import { preluGrad, preluValue } from './prelu.js';

/** Whether trunkForward can run this config with these kernels (else the tape does the work). */
export function trunkApplies(ctx: Ctx, c: BackboneConfig, f: ForwardOptions): boolean {
  const k = ctx.k.choice;
  return f.training && ctx.k.nat !== undefined && (k.trunk ?? 'tape') === 'recompute' && k.bn === 'fused'
    && k.prelu === 'fast' && k.conv === 'onednn' && c.norm.kind !== 'group';
}

// ---- convolutions: the forward the 'onednn' kernels run, and its two gradients --------------

type ConvKind = 'same' | 'padded' | 'subsampled';

const convKind = (k: number, g: ConvGeom): ConvKind =>
  g.stride === 1 && 2 * g.pad + 1 === k ? 'same' : k === 1 && g.pad === 0 && g.stride > 1 ? 'subsampled' : 'padded';

const subsample = (tf: Tf, x: Tensor4D, s: number): Tensor4D =>
  tf.stridedSlice(x, [0, 0, 0, 0], x.shape, [1, s, s, 1]) as Tensor4D;

const padSpatial = (tf: Tf, x: Tensor4D, p: number): Tensor4D => tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]);

function convForward(tf: Tf, x: Tensor4D, w: Tensor4D, g: ConvGeom): Tensor4D {
  switch (convKind(w.shape[0], g)) {
    case 'same': return tf.conv2d(x, w, 1, 'same');
    case 'subsampled': return tf.tidy(() => tf.conv2d(subsample(tf, x, g.stride), w, 1, 'valid'));
    case 'padded': return tf.tidy(() => tf.conv2d(padSpatial(tf, x, g.pad), w, g.stride, 'valid'));
  }
}

function gradAttrs(stride: number, padding: 'SAME' | 'VALID'): Record<string, AttrValue> {
  return {
    T: { type: 'dtype', value: 'float32' },
    strides: { type: 'ints', value: [1, stride, stride, 1] },
    padding: { type: 'string', value: padding },
    data_format: { type: 'string', value: 'NHWC' },
    use_cudnn_on_gpu: { type: 'bool', value: true },
    dilations: { type: 'ints', value: [1, 1, 1, 1] },
  };
}

/** [∂L/∂x, ∂L/∂w] of convForward(x, w, g) from ∂L/∂y, with x the unpadded input. */
function convBackward(tf: Tf, nat: NativeOps, x: Tensor4D, w: Tensor4D, g: ConvGeom, dy: Tensor4D): [Tensor4D, Tensor4D] {
  return tf.tidy(() => {
    const kind = convKind(w.shape[0], g);
    const input = kind === 'same' ? x : kind === 'subsampled' ? subsample(tf, x, g.stride) : padSpatial(tf, x, g.pad);
    const stride = kind === 'subsampled' ? 1 : g.stride;
    const attrs = gradAttrs(stride, kind === 'same' ? 'SAME' : 'VALID');
    const sizes = (s: number[]) => tf.tensor1d(s, 'int32');
    const [dw] = nat.run('Conv2DBackpropFilter', attrs, [input, sizes(w.shape), dy], 1);
    const [dIn] = nat.run('Conv2DBackpropInput', attrs, [sizes(input.shape), w, dy], 1) as Tensor4D[];
    return [fromConvInput(tf, dIn!, x, kind, g), dw as Tensor4D] as [Tensor4D, Tensor4D];
  });
}

/** ∂L/∂x from the gradient of what the conv op read: un-pad, or scatter back to every s-th pixel. */
function fromConvInput(tf: Tf, d: Tensor4D, x: Tensor4D, kind: ConvKind, g: ConvGeom): Tensor4D {
  const [n, h, w, c] = x.shape;
  switch (kind) {
    case 'same': return d;
    case 'padded': return tf.slice(d, [0, g.pad, g.pad, 0], x.shape);
    case 'subsampled': {
      const [oh, ow, s] = [d.shape[1], d.shape[2], g.stride];
      const grid = tf.pad(tf.reshape(d, [n, oh, 1, ow, 1, c]), [[0, 0], [0, 0], [0, s - 1], [0, 0], [0, s - 1], [0, 0]]);
      return tf.slice(tf.reshape(grid, [n, oh * s, ow * s, c]) as Tensor4D, [0, 0, 0, 0], [n, h, w, c]);
    }
  }
}

// ---- what the forward keeps, by index into customGrad's saved list ---------------------------

interface SavedNorm { name: string; scale: number; offset: number; reserve: number[]; rd?: [number, number] }

interface Conv { name: string; geom: ConvGeom }

/** One conv → norm [→ PReLU] link; `c` (the conv's output) indexes the saved tensors. */
interface Link { conv: Conv; c: number; norm: SavedNorm; prelu?: string }

interface UnitRec { unit: Unit; x: number; bn1: SavedNorm; c1: Link; c2: Link; sc?: Link }

/** Collects what the forward keeps, as kept clones (sharing the data): tidies inside the forward
 *  cannot free them, and disposing them never touches a caller's tensor or a variable. */
class Keeper {
  readonly list: Tensor[] = [];

  constructor(private readonly tf: Tf) {}

  put(t: Tensor): number {
    this.list.push(this.tf.keep(t.clone()));
    return this.list.length - 1;
  }

  putNorm(name: string, s: FusedSaved): SavedNorm {
    const put = (t: Tensor) => this.put(t);
    return { name, scale: put(s.scale), offset: put(s.offset), reserve: s.reserve.map(put), ...(s.rd ? { rd: [put(s.rd.r), put(s.rd.d)] as [number, number] } : {}) };
  }
}

interface Env {
  ctx: Ctx;
  tf: Tf;
  nat: NativeOps;
  c: BackboneConfig;
  f: ForwardOptions;
}

// ---- forward ---------------------------------------------------------------------------------

/** Training-mode norm: normalises, updates the moving statistics, returns y and what to keep. */
function normForward(e: Env, name: string, x: Tensor4D): { y: Tensor4D; saved: FusedSaved } {
  const { tf, nat } = e;
  const t = normTraining(e.ctx, e.c.norm, name, e.f);
  const out = fusedForward(tf, nat, x, scaleOf(tf, t.affine) as Tensor1D, t.affine.beta as Tensor1D, t.eps, t.correct);
  try {
    t.update(out);
  } finally {
    tf.dispose([out.mean, out.variance]);
  }
  return { y: out.y, saved: out.saved };
}

const kernel = (e: Env, name: string): Tensor4D => e.ctx.p.get(`${name}/kernel`) as Tensor4D;

/** conv → norm [→ PReLU]; keeps the conv's output and the norm's vectors, not the input (the
 *  caller keeps or recomputes it) nor the norm's and PReLU's outputs (recomputed). */
function linkForward(e: Env, k: Keeper, conv: Conv, x: Tensor4D, normName: string, prelu?: string): { y: Tensor4D; link: Link } {
  const { tf } = e;
  let link: Link | undefined;
  const y = tf.tidy(() => {
    const cOut = convForward(tf, x, kernel(e, conv.name), conv.geom);
    const { y: yn, saved } = normForward(e, normName, cOut);
    link = { conv, c: k.put(cOut), norm: k.putNorm(normName, saved), ...(prelu ? { prelu } : {}) };
    return prelu ? preluValue(tf, yn, e.ctx.p.get(`${prelu}/alpha`)) as Tensor4D : yn;
  });
  return { y, link: link! };
}

function unitForward(e: Env, k: Keeper, u: Unit, x: Tensor4D): { out: Tensor4D; rec: UnitRec } {
  const { tf } = e;
  const n = u.name;
  let rec: UnitRec | undefined;
  const out = tf.tidy(() => {
    const { y: y1, saved } = normForward(e, `${n}_bn1`, x);
    const rec0 = { unit: u, x: k.put(x), bn1: k.putNorm(`${n}_bn1`, saved) };
    const a = linkForward(e, k, { name: `${n}_conv1`, geom: { stride: 1, pad: 1 } }, y1, `${n}_bn2`, `${n}_relu1`);
    const b = linkForward(e, k, { name: `${n}_conv2`, geom: { stride: u.stride, pad: 1 } }, a.y, `${n}_bn3`);
    const sc = u.proj ? linkForward(e, k, { name: `${n}_conv1sc`, geom: { stride: u.stride, pad: 0 } }, x, `${n}_sc`) : undefined;
    rec = { ...rec0, c1: a.link, c2: b.link, ...(sc ? { sc: sc.link } : {}) };
    return tf.add(b.y, sc ? sc.y : x) as Tensor4D;
  });
  return { out, rec: rec! };
}

// ---- backward --------------------------------------------------------------------------------

/** The saved list as customGrad hands it back; each entry is freed after its last use. */
class Saved {
  constructor(private readonly ts: Tensor[]) {}

  get<T extends Tensor = Tensor4D>(i: number): T {
    return this.ts[i] as T;
  }

  norm(s: SavedNorm): FusedSaved {
    const g = (i: number) => this.ts[i] as Tensor1D;
    return { scale: g(s.scale), offset: g(s.offset), reserve: s.reserve.map((i) => this.ts[i]!), ...(s.rd ? { rd: { r: g(s.rd[0]), d: g(s.rd[1]) } } : {}) };
  }

  free(...is: number[]): void {
    for (const i of is) this.ts[i]!.dispose();
  }

  freeNorm(s: SavedNorm): void {
    this.free(s.scale, s.offset, ...s.reserve, ...(s.rd ?? []));
  }
}

interface Back {
  e: Env;
  saved: Saved;
  grads: Map<string, Tensor>;
}

/** ∂L/∂(norm input) from ∂L/∂(norm output); records ∂γ, ∂β. Frees nothing of the caller's. */
function normBackward(b: Back, s: SavedNorm, x: Tensor4D, dy: Tensor): Tensor4D {
  const [dx, dg, db] = fusedBackward(b.e.tf, b.e.nat, dy, x, b.saved.norm(s), b.e.c.norm.eps);
  b.grads.set(`${s.name}/gamma`, dg);
  b.grads.set(`${s.name}/beta`, db);
  return dx as Tensor4D;
}

/** Backward through conv → norm [→ PReLU] given ∂L/∂(link output) and the link's input `x`
 *  (kept, or recomputed by the caller); `normOut`, the norm's output if the caller has it already.
 *  Frees the conv output and the norm's vectors; returns ∂L/∂x, owned by the caller. */
function linkBackward(b: Back, l: Link, x: Tensor4D, dOut: Tensor4D, normOut?: Tensor4D): Tensor4D {
  const { tf, nat, ctx } = b.e;
  const c = b.saved.get(l.c);
  let dy: Tensor = dOut;
  if (l.prelu) {
    const alpha = ctx.p.get(`${l.prelu}/alpha`);
    const y = normOut ?? fusedRecompute(tf, nat, c, b.saved.norm(l.norm), b.e.c.norm.eps);
    const [dyp, da] = preluGrad(tf, dOut, y, alpha);
    if (y !== normOut) y.dispose();
    b.grads.set(`${l.prelu}/alpha`, da);
    dy = dyp;
  }
  const dc = normBackward(b, l.norm, c, dy);
  if (dy !== dOut) dy.dispose();
  b.saved.free(l.c);
  b.saved.freeNorm(l.norm);
  const [dx, dw] = convBackward(tf, nat, x, kernel(b.e, l.conv.name), l.conv.geom, dc);
  dc.dispose();
  b.grads.set(`${l.conv.name}/kernel`, dw);
  return dx;
}

/** ∂L/∂(unit input) from ∂L/∂(unit output), owned by the caller; `dOut` stays the caller's. */
function unitBackward(b: Back, r: UnitRec, dOut: Tensor4D): Tensor4D {
  const { tf, nat, ctx } = b.e;
  const eps = b.e.c.norm.eps;
  const x = b.saved.get(r.x);
  const dSc = r.sc ? linkBackward(b, r.sc, x, dOut) : undefined;
  // conv2 read PReLU(bn2(c1)): recompute both from the kept c1.
  const y2 = fusedRecompute(tf, nat, b.saved.get(r.c1.c), b.saved.norm(r.c1.norm), eps);
  const p = preluValue(tf, y2, ctx.p.get(`${r.c1.prelu!}/alpha`)) as Tensor4D;
  const dp = linkBackward(b, r.c2, p, dOut);
  p.dispose();
  // conv1 read bn1(x): recompute it from the kept x.
  const y1 = fusedRecompute(tf, nat, x, b.saved.norm(r.bn1), eps);
  const dy1 = linkBackward(b, r.c1, y1, dp, y2);
  tf.dispose([y1, y2, dp]);
  const dxMain = normBackward(b, r.bn1, x, dy1);
  dy1.dispose();
  b.saved.freeNorm(r.bn1);
  b.saved.free(r.x);
  const dx = tf.add(dxMain, dSc ?? dOut) as Tensor4D;
  tf.dispose([dxMain, ...(dSc ? [dSc] : [])]);
  return dx;
}

// ---- the op ----------------------------------------------------------------------------------

/** Every trunk parameter that gets a gradient, in the op's input order (after the image). */
export function trunkParamNames(units: readonly Unit[]): string[] {
  const norm = (n: string) => [`${n}/gamma`, `${n}/beta`];
  return [
    'conv0/kernel', ...norm('bn0'), 'prelu0/alpha',
    ...units.flatMap((u) => {
      const n = u.name;
      return [...norm(`${n}_bn1`), `${n}_conv1/kernel`, ...norm(`${n}_bn2`), `${n}_relu1/alpha`, `${n}_conv2/kernel`,
        ...norm(`${n}_bn3`), ...(u.proj ? [`${n}_conv1sc/kernel`, ...norm(`${n}_sc`)] : [])];
    }),
  ];
}

/** The trunk's output (N, S/16, S/16, w4) for images x, with its hand-written gradient. */
export function trunkForward(ctx: Ctx, c: BackboneConfig, units: readonly Unit[], x: Tensor4D, f: ForwardOptions): Tensor4D {
  const { tf } = ctx;
  const nat = ctx.k.nat!;
  const e: Env = { ctx, tf, nat, c, f };
  const names = trunkParamNames(units);
  const op = tf.customGrad((...args) => {
    const save = args.pop() as (ts: Tensor[]) => void;
    const img = args[0] as Tensor4D;
    const k = new Keeper(tf);
    const imgI = k.put(img);
    const stem = linkForward(e, k, { name: 'conv0', geom: { stride: 1, pad: 1 } }, img, 'bn0', 'prelu0');
    let h = stem.y;
    const recs: UnitRec[] = [];
    for (const u of units) {
      // Each unit's tidy frees its temporaries; its input is kept by the Keeper.
      const { out, rec } = unitForward(e, k, u, h);
      h = out;
      recs.push(rec);
    }
    // save() clones the kept tensors for the tape (and does nothing when no gradient is being
    // taken); the Keeper's copies go.
    save(k.list);
    tf.dispose(k.list);
    return {
      value: h,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const b: Back = { e, saved: new Saved(saved), grads: new Map() };
        let d = dy as Tensor4D;
        for (let i = recs.length - 1; i >= 0; i--) {
          const next = unitBackward(b, recs[i]!, d);
          if (d !== dy) d.dispose();
          d = next;
        }
        const dImg = linkBackward(b, stem.link, b.saved.get(imgI), d);
        if (d !== dy) d.dispose();
        b.saved.free(imgI);
        return [dImg, ...names.map((n) => b.grads.get(n)!)];
      },
    };
  });
  return op(x, ...names.map((n) => ctx.p.get(n))) as Tensor4D;
}
