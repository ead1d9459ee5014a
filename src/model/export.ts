// Saving a trained backbone as a standard tfjs layers model (model.json + weights.bin) that anyone
// can load with tf.loadLayersModel('file://…/model.json') and call .predict(x) on, without facepipe.
//
// The export is the inference form of the network, built from stock Keras layers with the trained
// weights: ZeroPadding2D + Conv2D(valid) for every padded conv; BatchNormalization with the moving
// statistics for batch norm and renorm (renorm's inference is plain BN over moving_mean and
// moving_variance); PReLU (sharedAxes [1, 2] when per channel); Add; Flatten; Dense. Group norm has
// no layer in tfjs, so it becomes Reshape (H·W, G, C/G) → LayerNormalization over every axis but the
// group one, without affine → Reshape back → a per-channel affine, expressed as a BatchNormalization
// whose moving mean is 0 and variance 1 with epsilon 0. Dropout is the identity at inference and is
// left out.
import type { LayersModel, SymbolicTensor, Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import path from 'node:path';
import type { Tf } from '../backend/tf.js';
import type { BackboneConfig, NormConfig } from './config.js';
import { units, type Unit } from './iresnet.js';
import { fileLoadHandler, fileSaveHandler } from './model-files.js';
import type { ParamStore } from './params.js';

export const EXPORT_FORMAT = 'facepipe-embedding-v1';

interface Build {
  tf: Tf;
  p: ParamStore;
  c: BackboneConfig;
  /** Layers whose weights are set once the graph is built (in one tidy): [layer, weights]. */
  pending: [{ setWeights(w: Tensor[]): void }, () => Tensor[]][];
}

type Sym = SymbolicTensor;

function convLayer(b: Build, name: string, x: Sym, k: number, stride: number, pad: number, filters: number): Sym {
  const { tf } = b;
  const padded = pad > 0 ? tf.layers.zeroPadding2d({ padding: pad, name: `${name}_pad` }).apply(x) as Sym : x;
  const conv = tf.layers.conv2d({ filters, kernelSize: k, strides: stride, padding: 'valid', useBias: false, name });
  const y = conv.apply(padded) as Sym;
  b.pending.push([conv, () => [b.p.get(`${name}/kernel`)]]);
  return y;
}

/** A per-channel affine γ·x + β as an inference-mode BatchNormalization. */
function affineLayer(b: Build, name: string, x: Sym, scale: boolean, mean?: Tensor, variance?: Tensor, eps = 0): Sym {
  const { tf, p } = b;
  const c = x.shape[x.shape.length - 1]!;
  const bn = tf.layers.batchNormalization({ axis: -1, epsilon: eps, center: true, scale, name });
  const y = bn.apply(x) as Sym;
  const affine = [...(scale ? [p.get(`${name}/gamma`)] : []), p.get(`${name}/beta`)];
  b.pending.push([bn, () => [...affine, mean ?? tf.zeros([c]), variance ?? tf.ones([c])]]);
  return y;
}

function normLayer(b: Build, cfg: NormConfig, name: string, x: Sym, scale = true): Sym {
  const { tf, p } = b;
  switch (cfg.kind) {
    case 'batch':
    case 'renorm':
      return affineLayer(b, name, x, scale, p.get(`${name}/moving_mean`), p.get(`${name}/moving_variance`), cfg.eps);
    case 'group': {
      const shape = x.shape.slice(1) as number[];
      const c = shape[shape.length - 1]!;
      // (pixels, G, C/G): tfjs' LayerNormalization handles rank ≤ 4 only.
      const pixels = shape.slice(0, -1).reduce((a, v) => a * v, 1);
      const grouped = [...(shape.length > 1 ? [pixels] : []), cfg.groups, c / cfg.groups];
      const axes = grouped.map((_, i) => i + 1).filter((a) => a !== grouped.length - 1);
      let h = tf.layers.reshape({ targetShape: grouped, name: `${name}_group` }).apply(x) as Sym;
      h = tf.layers.layerNormalization({ axis: axes, center: false, scale: false, epsilon: cfg.eps, name: `${name}_norm` }).apply(h) as Sym;
      h = tf.layers.reshape({ targetShape: shape, name: `${name}_ungroup` }).apply(h) as Sym;
      return affineLayer(b, name, h, scale);
    }
  }
}

function preluLayer(b: Build, name: string, x: Sym): Sym {
  const perChannel = b.c.prelu.kind === 'channel';
  const layer = b.tf.layers.prelu({ name, ...(perChannel ? { sharedAxes: [1, 2] } : {}) });
  const y = layer.apply(x) as Sym;
  const alpha = b.p.get(`${name}/alpha`);
  b.pending.push([layer, () => [perChannel ? b.tf.reshape(alpha, [1, 1, -1]) : alpha]]);
  return y;
}

function unitLayers(b: Build, u: Unit, x: Sym): Sym {
  const { tf, c } = b;
  const n = u.name;
  let y = normLayer(b, c.norm, `${n}_bn1`, x);
  y = convLayer(b, `${n}_conv1`, y, 3, 1, 1, u.cout);
  y = normLayer(b, c.norm, `${n}_bn2`, y);
  y = preluLayer(b, `${n}_relu1`, y);
  y = convLayer(b, `${n}_conv2`, y, 3, u.stride, 1, u.cout);
  y = normLayer(b, c.norm, `${n}_bn3`, y);
  const sc = u.proj ? normLayer(b, c.norm, `${n}_sc`, convLayer(b, `${n}_conv1sc`, x, 1, u.stride, 0, u.cout)) : x;
  return tf.layers.add({ name: `${n}_add` }).apply([y, sc]) as Sym;
}

/** The backbone's inference form as a tf.layers model carrying the current weights. */
export function toLayersModel(tf: Tf, c: BackboneConfig, p: ParamStore): LayersModel {
  const b: Build = { tf, p, c, pending: [] };
  const input = tf.input({ shape: [c.inputSize, c.inputSize, 3], name: 'input' });
  let h = convLayer(b, 'conv0', input, 3, 1, 1, c.stem);
  h = normLayer(b, c.norm, 'bn0', h);
  h = preluLayer(b, 'prelu0', h);
  for (const u of units(c)) h = unitLayers(b, u, h);
  h = normLayer(b, c.norm, 'bn1', h);
  h = tf.layers.flatten({ name: 'flatten' }).apply(h) as Sym;
  const dense = tf.layers.dense({ units: c.embedding, useBias: true, name: 'E_DenseLayer' });
  h = dense.apply(h) as Sym;
  b.pending.push([dense, () => [p.get('E_DenseLayer/kernel'), p.get('E_DenseLayer/bias')]]);
  h = normLayer(b, c.norm, 'fc1', h, false);
  const model = tf.model({ inputs: input, outputs: h, name: 'iresnet' });
  tf.tidy(() => { for (const [layer, w] of b.pending) layer.setWeights(w()); });
  return model;
}

export interface ExportMetadata {
  format: typeof EXPORT_FORMAT;
  backbone: BackboneConfig;
  /** Free-form facts the training run knows (pixel scaling, channel order, dataset …). */
  extra?: Record<string, unknown>;
}

/** Writes model.json + weights.bin into `dir` (created if needed). */
export async function saveEmbeddingModel(tf: Tf, c: BackboneConfig, p: ParamStore, dir: string,
  extra?: Record<string, unknown>): Promise<void> {
  const model = toLayersModel(tf, c, p);
  try {
    const meta: ExportMetadata = { format: EXPORT_FORMAT, backbone: c, ...(extra ? { extra } : {}) };
    model.setUserDefinedMetadata(meta as unknown as Record<string, never>);
    await model.save(fileSaveHandler(tf, path.resolve(dir)));
  } finally {
    model.dispose();
  }
}

export interface Embedder {
  model: LayersModel;
  metadata?: ExportMetadata;
  /** Embeddings (N, embedding) of preprocessed images (N, S, S, 3). */
  embed(x: Tensor4D): Tensor2D;
  dispose(): void;
}

/** Loads a model saved by saveEmbeddingModel (or any single-input layers model) from `dir`. */
export async function loadEmbeddingModel(tf: Tf, dir: string): Promise<Embedder> {
  const model = await tf.loadLayersModel(await fileLoadHandler(tf, path.resolve(dir)));
  const meta = model.getUserDefinedMetadata() as unknown as ExportMetadata | undefined;
  return {
    model,
    ...(meta?.format === EXPORT_FORMAT ? { metadata: meta } : {}),
    embed: (x) => model.predict(x) as Tensor2D,
    dispose: () => model.dispose(),
  };
}
