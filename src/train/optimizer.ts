// SGD with momentum, in the Keras form the original used (v ← μ·v − lr·g; w ← w + v), with an
// optional decoupled weight decay (w ← w − lr·λ·w, as SGDW/AdamW do) for configs that keep the
// L2 term out of the loss. Slots are plain variables keyed by the model's stable parameter names,
// so a checkpoint saves them exactly.
import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import type { Param } from '../model/params.js';

export interface SgdConfig {
  momentum: number;
  /** Decoupled weight decay λ (0 = none). */
  weightDecay: number;
}

export class Sgd {
  private readonly slots: Map<string, Variable>;

  constructor(private readonly tf: Tf, private readonly params: readonly Param[], private readonly c: SgdConfig) {
    // In a tidy: a variable shares its initial tensor's buffer, so an undisposed zerosLike would
    // keep a zero copy of every weight alive once the first update swaps the slot's buffer.
    this.slots = new Map(params.map((p) => [p.spec.name, tf.tidy(() => tf.variable(tf.zerosLike(p.v), false))]));
  }

  /** One update with gradients by parameter name (missing = zero gradient). tfjs has no in-place
   *  ops (each assign swaps in a new buffer and frees the old one), so the update is done one
   *  parameter at a time, each in its own tidy: it needs a few copies of the largest weight, not of
   *  all of them. With `release`, the caller hands the gradients over and each is disposed as soon
   *  as its parameter is updated. */
  apply(grads: ReadonlyMap<string, Tensor>, lr: number, opts: { release?: boolean } = {}): void {
    const { tf, c } = this;
    for (const { spec, v: w } of this.params) {
      const g = grads.get(spec.name);
      const v = this.slots.get(spec.name)!;
      const next = tf.tidy(() => (g ? tf.sub(tf.mul(v, c.momentum), tf.mul(g, lr)) : tf.mul(v, c.momentum)));
      if (opts.release) g?.dispose();
      v.assign(next);
      next.dispose();
      tf.tidy(() => {
        const decayed = c.weightDecay > 0 ? tf.sub(w, tf.mul(w, lr * c.weightDecay)) : w;
        w.assign(tf.add(decayed, v));
      });
    }
  }

  /** Copies of the momentum buffers by parameter name (the caller owns them). */
  getState(): Map<string, Tensor> {
    return new Map([...this.slots].map(([n, v]) => [n, this.tf.clone(v)]));
  }

  setState(state: ReadonlyMap<string, Tensor>): void {
    for (const [n, v] of this.slots) {
      const s = state.get(n);
      if (!s || s.shape.join() !== v.shape.join()) throw new Error(`optimizer state has no momentum for ${n} of shape [${v.shape}]`);
      v.assign(s);
    }
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
  }
}
