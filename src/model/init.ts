// Parameter initialisers, as data (so the layout stays a pure function) and their tensors.
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { InitScheme } from './config.js';

export type InitSpec =
  | { kind: 'const'; value: number }
  /** Keras glorot_normal: truncated (±2σ) normal, σ = √(2 / (fanIn + fanOut)) / 0.87962566, the
   *  constant undoing the truncation's shrinkage of the variance. */
  | { kind: 'glorotNormal'; fanIn: number; fanOut: number }
  /** Keras glorot_uniform: U(±√(6 / (fanIn + fanOut))). */
  | { kind: 'glorotUniform'; fanIn: number; fanOut: number }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; limit: number };

const TRUNCATION_STD = 0.87962566103423978;

export function initTensor(tf: Tf, spec: InitSpec, shape: number[], seed: number): Tensor {
  switch (spec.kind) {
    case 'const': return tf.fill(shape, spec.value);
    case 'glorotNormal': {
      const std = Math.sqrt(2 / (spec.fanIn + spec.fanOut)) / TRUNCATION_STD;
      return tf.truncatedNormal(shape, 0, std, 'float32', seed);
    }
    case 'glorotUniform': {
      const limit = Math.sqrt(6 / (spec.fanIn + spec.fanOut));
      return tf.randomUniform(shape, -limit, limit, 'float32', seed);
    }
    case 'normal': return tf.randomNormal(shape, 0, spec.std, 'float32', seed);
    case 'uniform': return tf.randomUniform(shape, -spec.limit, spec.limit, 'float32', seed);
  }
}

/** A k×k conv kernel (HWIO), Keras fans: receptive field × channels. */
export function convInit(scheme: InitScheme, k: number, cin: number, cout: number): InitSpec {
  switch (scheme) {
    case 'original': return { kind: 'glorotNormal', fanIn: k * k * cin, fanOut: k * k * cout };
    // arcface_torch iresnet.py: nn.init.normal_(conv.weight, 0, 0.1) for every conv.
    case 'insightface': return { kind: 'normal', std: 0.1 };
  }
}

/** The embedding FC's kernel (in × out). */
export function denseInit(scheme: InitScheme, fanIn: number, fanOut: number): InitSpec {
  switch (scheme) {
    case 'original': return { kind: 'glorotNormal', fanIn, fanOut };
    // PyTorch nn.Linear default: kaiming_uniform(a=√5) = U(±1/√fanIn).
    case 'insightface': return { kind: 'uniform', limit: 1 / Math.sqrt(fanIn) };
  }
}

export function denseBiasInit(scheme: InitScheme, fanIn: number): InitSpec {
  switch (scheme) {
    case 'original': return { kind: 'const', value: 0 };
    case 'insightface': return { kind: 'uniform', limit: 1 / Math.sqrt(fanIn) };
  }
}

/** The margin head's class weights W (embedding × classes). */
export function classesInit(scheme: InitScheme, embedding: number, classes: number): InitSpec {
  switch (scheme) {
    // The original Arcfacelayer: glorot_uniform over (embedding, classes).
    case 'original': return { kind: 'glorotUniform', fanIn: embedding, fanOut: classes };
    // arcface_torch partial_fc: torch.normal(0, 0.01, (classes, embedding)).
    case 'insightface': return { kind: 'normal', std: 0.01 };
  }
}
