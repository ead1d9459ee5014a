// Every variable of a model, in one flat, ordered list with stable names.
//
// The layout (names, shapes, roles, initialisers) is a pure function of the config (iresnet.ts,
// head.ts), so names and order are the same in every run and a parameter count needs no tensors.
// Variables are created unnamed in tfjs (its names are process-global and would clash between two
// models); the names here are ours.
import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { ParamRole } from './config.js';
import { initTensor, type InitSpec } from './init.js';

export interface ParamSpec {
  /** Keras-style `layer/weight`, using the original project's layer names. */
  name: string;
  shape: number[];
  /** 'state' = non-trainable (moving statistics, renorm averages). */
  role: ParamRole | 'state';
  init: InitSpec;
}

export interface Param {
  spec: ParamSpec;
  v: Variable;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

export function countParams(specs: readonly ParamSpec[]): { trainable: number; state: number } {
  let trainable = 0;
  let state = 0;
  for (const s of specs) {
    if (s.role === 'state') state += size(s.shape);
    else trainable += size(s.shape);
  }
  return { trainable, state };
}

export class ParamStore {
  private readonly byName: Map<string, Param>;

  private constructor(readonly tf: Tf, readonly list: readonly Param[]) {
    this.byName = new Map(list.map((p) => [p.spec.name, p]));
  }

  /** Creates and initialises the variables of `specs`; `seed` makes the random ones reproducible. */
  static create(tf: Tf, specs: readonly ParamSpec[], seed = 0): ParamStore {
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.name)) throw new Error(`duplicate parameter name '${s.name}'`);
      seen.add(s.name);
    }
    const list = specs.map((spec, i) => {
      // + 1: tfjs treats a seed of 0 as "no seed" and draws fresh random numbers.
      const init = initTensor(tf, spec.init, spec.shape, ((seed * 7919 + i) % 2 ** 31) + 1);
      const v = tf.variable(init, spec.role !== 'state');
      init.dispose();
      return { spec, v };
    });
    return new ParamStore(tf, list);
  }

  get(name: string): Variable {
    const p = this.byName.get(name);
    if (!p) throw new Error(`no parameter '${name}'`);
    return p.v;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  trainable(): Param[] {
    return this.list.filter((p) => p.spec.role !== 'state');
  }

  state(): Param[] {
    return this.list.filter((p) => p.spec.role === 'state');
  }

  trainableVariables(): Variable[] {
    return this.trainable().map((p) => p.v);
  }

  /** Copies of every variable, trainable and not, by name in layout order. The caller owns them. */
  getState(): Map<string, Tensor> {
    return new Map(this.list.map((p) => [p.spec.name, this.tf.clone(p.v)]));
  }

  /** Restores exactly what getState returned: the same names and shapes, nothing missing or extra. */
  setState(state: ReadonlyMap<string, Tensor>): void {
    const missing = this.list.filter((p) => !state.has(p.spec.name)).map((p) => p.spec.name);
    const extra = [...state.keys()].filter((k) => !this.byName.has(k));
    if (missing.length || extra.length) {
      const show = (xs: string[]) => `${xs.slice(0, 5).join(', ')}${xs.length > 5 ? `, … (${xs.length})` : ''}`;
      throw new Error(`state does not match the model: ${missing.length ? `missing ${show(missing)}` : ''}` +
        `${missing.length && extra.length ? '; ' : ''}${extra.length ? `unexpected ${show(extra)}` : ''}`);
    }
    for (const p of this.list) {
      const t = state.get(p.spec.name)!;
      if (t.shape.join('x') !== p.spec.shape.join('x')) {
        throw new Error(`state '${p.spec.name}' has shape [${t.shape}], the model expects [${p.spec.shape}]`);
      }
    }
    for (const p of this.list) p.v.assign(state.get(p.spec.name)!);
  }

  dispose(): void {
    for (const p of this.list) p.v.dispose();
  }
}
