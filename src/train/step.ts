// One optimizer update: k micro-batches, each one's activations freed before the next (tf.tidy
// around its gradient), gradients summed, one SGD update. With the loss of micro-batch i being
// CE_i/k (+ the regularization term once), the summed gradient equals that of one batch k× as big
// for a model without batch statistics.
//
// The L2 term stays off the tape: its value is computed once without gradient and its gradient,
// regCoef·coef·2w, is added to the summed gradients. Through the tape it would be the same numbers,
// but tfjs would hold two more copies of every regularised weight (the term's gradient and the sum
// with the loss's) until the backward pass ends: 0.7 GB for r50 with 85,742 classes.
import type { Scalar, Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import { accuracy, crossEntropy } from '../model/head.js';
import type { FaceModel } from '../model/model.js';
import { regularizedParams } from '../model/regularization.js';
import type { Sgd } from './optimizer.js';

export interface MicroBatch {
  images: Float32Array;
  labels: Int32Array;
  n: number;
}

export interface StepStats {
  /** inference + coef·regularization */
  loss: number;
  inferenceLoss: number;
  regularizationLoss: number;
  /** Training accuracy on the margin logits, and on plain cosine logits (what a user expects). */
  accuracy: number;
  accuracyCos: number;
}

export interface StepOptions {
  lr: number;
  step: number;
  seed: number;
  /** The original's decaying coefficient on the regularization loss (1 when not used). */
  regCoef: number;
}

/** What one model copy computed on its share of a step: summed, scaled gradients by parameter name
 *  (the caller owns them) and its loss and accuracies, averaged over its micro-batches. */
export interface Gradients {
  grads: Map<string, Tensor>;
  inferenceLoss: number;
  accuracy: number;
  accuracyCos: number;
}

export interface GradientOptions {
  step: number;
  seed: number;
  /** Index of the first micro-batch in the whole step (a replica's offset), for dropout seeds. */
  firstMicro?: number;
}

/** Gradients of the mean cross-entropy over `micro` (each micro-batch's loss is CE_i/k), without
 *  the regularization term: whoever applies the update adds it, once. */
export function computeGradients(tf: Tf, model: FaceModel, micro: readonly MicroBatch[], o: GradientOptions): Gradients {
  const size = model.config.backbone.inputSize;
  const params = model.params.trainable();
  const vars = params.map((p) => p.v);
  const names = new Map(vars.map((v, i) => [v.name, params[i]!.spec.name]));
  let summed = new Map<string, Tensor>();
  const stats = { inferenceLoss: 0, accuracy: 0, accuracyCos: 0 };
  const k = micro.length;
  try {
    micro.forEach((b, j) => {
      const i = (o.firstMicro ?? 0) + j;
      const kept: Scalar[] = [];
      const grads = tf.tidy(() => {
        const x = tf.tensor4d(b.images, [b.n, size, size, 3]) as Tensor4D;
        const y = tf.tensor1d(b.labels, 'int32') as Tensor1D;
        const f = (): Scalar => {
          // + 1: tfjs treats a seed of 0 as "no seed".
          const out = model.forward(x, y, { training: true, step: o.step, seed: ((o.seed * 1000 + i) % 2 ** 31) + 1 });
          const ce = crossEntropy(tf, out.logits, y);
          kept.push(tf.keep(ce), tf.keep(accuracy(tf, out.logits, y)), tf.keep(accuracy(tf, out.cos, y)));
          return tf.div(ce, k) as Scalar;
        };
        return tf.variableGrads(f, vars).grads;
      });
      const [ce, acc, accCos] = kept.map((t) => t.dataSync()[0]!);
      kept.forEach((t) => t.dispose());
      stats.inferenceLoss += ce! / k;
      stats.accuracy += acc! / k;
      stats.accuracyCos += accCos! / k;
      summed = accumulate(tf, summed, grads, names);
    });
  } catch (e) {
    for (const g of summed.values()) g.dispose();
    throw e;
  }
  return { grads: summed, ...stats };
}

/** Adds the regularization gradient to `g.grads` and applies one SGD update, which takes the
 *  gradients over (they are disposed). Returns the step's statistics. */
export function applyGradients(tf: Tf, model: FaceModel, opt: Sgd, g: Gradients, o: { lr: number; regCoef: number }): StepStats {
  let regularizationLoss = 0;
  try {
    if (o.regCoef !== 0) regularizationLoss = addRegularization(tf, model, g.grads, o.regCoef);
    opt.apply(g.grads, o.lr, { release: true });
  } finally {
    for (const t of g.grads.values()) t.dispose();
  }
  const { inferenceLoss, accuracy, accuracyCos } = g;
  return { inferenceLoss, regularizationLoss, accuracy, accuracyCos, loss: inferenceLoss + o.regCoef * regularizationLoss };
}

export function trainStep(tf: Tf, model: FaceModel, opt: Sgd, micro: readonly MicroBatch[], o: StepOptions): StepStats {
  return applyGradients(tf, model, opt, computeGradients(tf, model, micro, o), o);
}

/** Adds regCoef·∂reg/∂w = regCoef·coef·2w to the gradient of every regularised weight, one weight
 *  at a time; returns the term's value (coef·Σw², as model.regularizationLoss() computes it). */
function addRegularization(tf: Tf, model: FaceModel, grads: Map<string, Tensor>, regCoef: number): number {
  const reg = model.config.regularization;
  if (reg.kind === 'none') return 0;
  const value = tf.tidy(() => model.regularizationLoss().dataSync()[0]!);
  const k = 2 * reg.coef * regCoef;
  for (const p of regularizedParams(model.params, reg)) {
    const g = grads.get(p.spec.name);
    grads.set(p.spec.name, tf.tidy(() => (g ? tf.add(g, tf.mul(p.v, k)) : tf.mul(p.v, k))));
    g?.dispose();
  }
  return value;
}

function accumulate(tf: Tf, acc: Map<string, Tensor>, grads: Record<string, Tensor>, names: Map<string, string>): Map<string, Tensor> {
  for (const [varName, g] of Object.entries(grads)) {
    const name = names.get(varName)!;
    const prev = acc.get(name);
    if (!prev) {
      acc.set(name, g);
      continue;
    }
    acc.set(name, tf.add(prev, g));
    prev.dispose();
    g.dispose();
  }
  return acc;
}

/** The original's rule: after a step, if inference < coef·reg, then coef ← factor·coef (no floor). */
export function decayRegCoef(coef: number, s: StepStats, factor: number): number {
  return s.inferenceLoss < coef * s.regularizationLoss ? coef * factor : coef;
}
