// A face recognition model: the IR-ResNet backbone, optionally the margin head, their parameters
// in one store, the regularisation loss and the state the training loop checkpoints.
import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { BackboneConfig, HeadConfig, RegularizationConfig } from './config.js';
import { createHead, headParams, type Head, type HeadOut } from './head.js';
import { backboneParams, createBackbone, type Backbone } from './iresnet.js';
import { makeKernels, type ForwardOptions, type Impl, type Kernels } from './kernels.js';
import { ParamStore } from './params.js';
import { regularizationLoss } from './regularization.js';

export interface FaceModelConfig {
  backbone: BackboneConfig;
  /** Absent for an embedding-only model (evaluation, export). */
  head?: HeadConfig;
  regularization: RegularizationConfig;
}

export interface FaceModelOptions {
  /** 'fast' (default) or 'plain' kernels, or a per-block choice (see kernels.ts). */
  impl?: Impl;
  /** Seed of the random initialisers. */
  seed?: number;
}

export interface FaceModel {
  readonly config: FaceModelConfig;
  readonly params: ParamStore;
  readonly backbone: Backbone;
  readonly head?: Head;
  readonly kernels: Kernels;
  /** Embeddings (N, embedding) of images (N, S, S, 3). */
  embed(x: Tensor4D, f: ForwardOptions): Tensor2D;
  /** Embeddings plus the head's margin logits and cosines; needs a head. */
  forward(x: Tensor4D, labels: Tensor1D, f: ForwardOptions): HeadOut & { embedding: Tensor2D };
  /** coef·Σw² over the regularised parameters (0 for regularization 'none'). */
  regularizationLoss(): Scalar;
  trainableVariables(): Variable[];
  /** Copies of every variable (trainable and moving/renorm statistics) by stable name. */
  getState(): Map<string, Tensor>;
  setState(state: ReadonlyMap<string, Tensor>): void;
  dispose(): void;
}

export function createFaceModel(tf: Tf, config: FaceModelConfig, opts: FaceModelOptions = {}): FaceModel {
  const specs = [
    ...backboneParams(config.backbone),
    ...(config.head ? headParams(config.head, config.backbone.embedding) : []),
  ];
  const params = ParamStore.create(tf, specs, opts.seed ?? 0);
  const kernels = makeKernels(tf, opts.impl);
  const ctx = { tf, p: params, k: kernels };
  const backbone = createBackbone(ctx, config.backbone);
  const head = config.head ? createHead(ctx, config.head) : undefined;
  return {
    config, params, backbone, kernels, ...(head ? { head } : {}),
    embed: (x, f) => backbone.forward(x, f),
    forward(x, labels, f) {
      if (!head) throw new Error('this model has no head: create it with config.head to compute logits');
      return tf.tidy(() => {
        const embedding = backbone.forward(x, f);
        return { embedding, ...head.forward(embedding, labels) };
      });
    },
    regularizationLoss: () => regularizationLoss(tf, params, config.regularization),
    trainableVariables: () => params.trainableVariables(),
    getState: () => params.getState(),
    setState: (s) => params.setState(s),
    dispose: () => params.dispose(),
  };
}
