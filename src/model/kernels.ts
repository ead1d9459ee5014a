// Which implementation each building block uses, and what every layer's forward receives.
//
// 'fast' is what measured fastest on the native backend (bench/model.ts): fused batch norm, the
// PReLU and cosine custom gradients, and oneDNN for every conv op (see conv.ts); in training, the
// trunk's gradient by hand with recomputation (trunk.ts), which also peaks at far less memory.
// 'plain' is the straightforward tfjs-ops version (tf.moments + tf.batchNorm, tf.prelu,
// W / ‖W‖ …), kept as the benchmark baseline and as the reference the fast pieces are tested
// against. On the pure-JS backend the native-only pieces fall back to 'plain' by themselves.
import type { Tf } from '../backend/tf.js';
import { makeConv2d, type Conv2d, type ConvImpl } from './conv.js';
import { nativeOps, type NativeOps } from './native.js';
import type { ParamStore } from './params.js';

export interface KernelChoice {
  conv: ConvImpl;
  bn: 'fused' | 'plain';
  prelu: 'fast' | 'plain';
  cosine: 'fast' | 'plain';
  /** How the backbone's trunk gets its gradient in training: 'tape' (tfjs autodiff; the default
   *  when absent) or 'recompute' (trunk.ts: one custom gradient that keeps only the conv outputs,
   *  recomputes norms and PReLUs, frees as it goes). 'recompute' takes effect with bn 'fused',
   *  prelu 'fast' and conv 'onednn' on the native backend, for batch norm and renorm; otherwise
   *  the tape does the work. */
  trunk?: 'tape' | 'recompute';
}

export type Impl = 'fast' | 'plain' | KernelChoice;

export const FAST: KernelChoice = { conv: 'onednn', bn: 'fused', prelu: 'fast', cosine: 'fast', trunk: 'recompute' };
export const PLAIN: KernelChoice = { conv: 'plain', bn: 'plain', prelu: 'plain', cosine: 'plain', trunk: 'tape' };

export interface Kernels {
  choice: KernelChoice;
  conv: Conv2d;
  /** Set on the native backend; the fused batch norm needs it. */
  nat?: NativeOps;
}

export function makeKernels(tf: Tf, impl: Impl = 'fast'): Kernels {
  const choice = impl === 'fast' ? FAST : impl === 'plain' ? PLAIN : impl;
  const nat = nativeOps(tf);
  return { choice, conv: makeConv2d(tf, choice.conv, nat), ...(nat ? { nat } : {}) };
}

export interface ForwardOptions {
  /** Batch statistics, moving-average updates and dropout happen only when true. */
  training: boolean;
  /** The global training step; required by renorm with warmupSteps > 0. */
  step?: number;
  /** Dropout seed, for reproducible training steps. */
  seed?: number;
}

/** What a layer's forward needs besides its input. */
export interface Ctx {
  tf: Tf;
  p: ParamStore;
  k: Kernels;
}
