// Shared helpers for the model tests: the backend, tiny configs and error measures.
import type { Tensor } from '@tensorflow/tfjs';
import { loadTf, type Tf } from '../../src/backend/tf.js';
import { backboneConfig, type BackboneConfig, type NormConfig } from '../../src/model/config.js';
import { makeKernels, type Ctx, type Impl } from '../../src/model/kernels.js';
import { ParamStore, type ParamSpec } from '../../src/model/params.js';

export async function getTf(): Promise<Tf> {
  return (await loadTf({ quiet: true })).tf;
}

export const isNative = (tf: Tf): boolean => tf.getBackend() === 'tensorflow';

/** max |a − b| / max |b|: the error relative to the reference's scale. */
export function relErr(a: Tensor | ArrayLike<number>, b: Tensor | ArrayLike<number>): number {
  const av = 'dataSync' in a ? a.dataSync() : a;
  const bv = 'dataSync' in b ? b.dataSync() : b;
  if (av.length !== bv.length) throw new Error(`length ${av.length} vs ${bv.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < av.length; i++) {
    num = Math.max(num, Math.abs(av[i]! - bv[i]!));
    den = Math.max(den, Math.abs(bv[i]!));
  }
  return den === 0 ? num : num / den;
}

/** A layer context over fresh parameters from `specs`. */
export function layerCtx(tf: Tf, specs: ParamSpec[], impl: Impl, seed = 1): Ctx {
  return { tf, p: ParamStore.create(tf, specs, seed), k: makeKernels(tf, impl) };
}

/** A tiny IR-ResNet: depth 18, widths 4/8/8/8, 32×32 input, 8-d embedding. */
export function tinyBackbone(over: Partial<BackboneConfig> = {}): BackboneConfig {
  return backboneConfig({ depth: 18, widths: [4, 8, 8, 8], stem: 4, inputSize: 32, embedding: 8, ...over });
}

export const GROUP2: NormConfig = { kind: 'group', groups: 2, eps: 2e-5 };

/** Values with a non-zero mean and a spread, so normalisation has something to do. */
export const sample = (tf: Tf, shape: number[], seed: number): Tensor => tf.tidy(() =>
  tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), 1.7), 0.6));
