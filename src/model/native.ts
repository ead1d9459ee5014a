// Raw TensorFlow ops through tfjs-node's kernel backend, for the kernels tfjs does not expose
// (FusedBatchNormV3 in training mode, convolutions with EXPLICIT padding and their gradients).
// tfjs-node runs every op through `binding.executeOp` (TFE eager); `executeMultipleOutputs` is the
// backend's public-but-undocumented door to it: an op name, its attributes, input tensors and the
// number of outputs. The output tensors are tracked by the engine like any other.
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';

/** The binding constants the attributes need (TF_AttrType and TF_DataType values). */
interface Binding {
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_FLOAT: number;
  TF_INT32: number;
}

export interface OpAttr {
  name: string;
  type: number;
  value: string | number | boolean | number[];
}

interface NodeBackend {
  binding: Binding;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: Tensor[], numOutputs: number): Tensor[];
}

/** One raw attribute value, by TensorFlow attr type. */
export type AttrValue =
  | { type: 'dtype'; value: 'float32' | 'int32' }
  | { type: 'float'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: number[] };

export interface NativeOps {
  /** Runs TensorFlow op `op` eagerly; returns its `numOutputs` outputs. */
  run(op: string, attrs: Record<string, AttrValue>, inputs: Tensor[], numOutputs: number): Tensor[];
}

/** The raw-op runner when `tf` runs on the native TensorFlow backend, else undefined. */
export function nativeOps(tf: Tf): NativeOps | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as NodeBackend;
  if (typeof backend.executeMultipleOutputs !== 'function' || !backend.binding) return undefined;
  const b = backend.binding;
  const toAttr = (name: string, a: AttrValue): OpAttr => {
    switch (a.type) {
      case 'dtype': return { name, type: b.TF_ATTR_TYPE, value: a.value === 'float32' ? b.TF_FLOAT : b.TF_INT32 };
      case 'float': return { name, type: b.TF_ATTR_FLOAT, value: a.value };
      case 'bool': return { name, type: b.TF_ATTR_BOOL, value: a.value };
      case 'string': return { name, type: b.TF_ATTR_STRING, value: a.value };
      case 'ints': return { name, type: b.TF_ATTR_INT, value: a.value };
    }
  };
  return {
    run: (op, attrs, inputs, numOutputs) =>
      backend.executeMultipleOutputs(op, Object.entries(attrs).map(([k, v]) => toAttr(k, v)), inputs, numOutputs),
  };
}
