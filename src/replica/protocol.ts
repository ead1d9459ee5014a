// What the coordinator and its replicas say to each other, and how parameters are laid out in the
// shared weights and gradients files. Both sides build the same model from the same config, so the
// files hold only numbers: the layout (names, shapes, order) is known on both ends and never sent.
import type { FaceModel, FaceModelConfig } from '../model/model.js';
import type { Param } from '../model/params.js';
import { float32Views } from './wire.js';

/** 'init': what a replica builds and where it finds the weights and puts its gradients. */
export interface InitMeta {
  model: FaceModelConfig;
  /** The shared-memory file the coordinator writes the weights into (layout.weights order). */
  weights: string;
  /** This replica's file for its gradients and moving statistics (layout.grads order). */
  grads: string;
}

/** 'step': one replica's share of a step. The payload is, per micro-batch, its images (float32,
 *  NHWC) then its labels (int32). */
export interface StepMeta {
  step: number;
  seed: number;
  /** This replica's first micro-batch index in the whole step (dropout seeds differ per replica). */
  firstMicro: number;
  /** Images in each micro-batch. */
  micro: number[];
}

/** 'grads': a replica's answer. Its gradients file then holds the gradient of every trainable
 *  parameter, then every moving statistic after the step, in layout order. */
export interface GradsMeta {
  inferenceLoss: number;
  accuracy: number;
  accuracyCos: number;
  computeMs: number;
  /** Reading and assigning the weights before this step. */
  loadMs: number;
  /** Reading the gradients out of TensorFlow and writing them into the file. */
  writeMs: number;
}

export interface Layout {
  trainable: Param[];
  state: Param[];
  /** The weights file's order: moving statistics, then trainable weights. */
  weights: Param[];
  /** A gradients file's order: trainable weights' gradients, then moving statistics. */
  grads: Param[];
  /** Bytes of either (every parameter once, float32). */
  bytes: number;
  size(p: Param): number;
  views(payload: Buffer, order: readonly Param[]): Float32Array[];
}

const cache = new WeakMap<FaceModel, Layout>();

export function layoutOf(model: FaceModel): Layout {
  const hit = cache.get(model);
  if (hit) return hit;
  const size = (p: Param) => p.spec.shape.reduce((a, b) => a * b, 1);
  const trainable = model.params.trainable();
  const state = model.params.state();
  const l: Layout = {
    trainable,
    state,
    weights: [...state, ...trainable],
    grads: [...trainable, ...state],
    bytes: [...trainable, ...state].reduce((a, p) => a + 4 * size(p), 0),
    size,
    views: (payload, order) => {
      if (payload.length !== l.bytes) throw new Error(`a payload of ${payload.length} bytes for a model of ${l.bytes}: the replicas run another model`);
      return float32Views(payload, order.map(size));
    },
  };
  cache.set(model, l);
  return l;
}

/** Byte offset of each parameter in a file laid out in `order`. */
export function offsets(order: readonly Param[]): Map<string, number> {
  let at = 0;
  return new Map(order.map((p) => {
    const o = at;
    at += 4 * p.spec.shape.reduce((a, b) => a * b, 1);
    return [p.spec.name, o];
  }));
}
