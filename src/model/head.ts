// The classifier on top of the embedding: class weights W (embedding × classes), one column per
// identity, and the margin chosen in the config. It returns the margin logits (for the loss) and
// the plain cosines (argmax = nearest class centre), so training accuracy can be reported on both.
import type { Scalar, Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs';
import type { Tf } from '../backend/tf.js';
import { checkHead, type HeadConfig } from './config.js';
import { cosineFast, cosinePlain } from './cosine.js';
import { classesInit } from './init.js';
import type { Ctx } from './kernels.js';
import { marginLogits, marginLogitsFast } from './margin.js';
import { l2Normalize } from './ops.js';
import type { ParamSpec } from './params.js';

export function headParams(c: HeadConfig, embedding: number): ParamSpec[] {
  const errs = checkHead(c);
  if (errs.length) throw new Error(`invalid head config:\n  ${errs.join('\n  ')}`);
  const w: ParamSpec = { name: 'classifier/kernel', shape: [embedding, c.classes], role: 'classes', init: classesInit(c.init, embedding, c.classes) };
  if (c.margin.kind !== 'softmax') return [w];
  return [w, { name: 'classifier/bias', shape: [c.classes], role: 'bias', init: { kind: 'const', value: 0 } }];
}

export interface HeadOut {
  /** What the loss sees: margin logits, or e·W + b for plain softmax. */
  logits: Tensor2D;
  /** cos θ to every class centre, clamped to [−1, 1]. */
  cos: Tensor2D;
}

export interface Head {
  readonly config: HeadConfig;
  forward(e: Tensor2D, labels: Tensor1D): HeadOut;
}

export function createHead(ctx: Ctx, c: HeadConfig): Head {
  const { tf, p } = ctx;
  return {
    config: c,
    forward(e, labels) {
      return tf.tidy(() => {
        const w = p.get('classifier/kernel') as Tensor2D;
        const eHat = l2Normalize(tf, e);
        const raw = ctx.k.choice.cosine === 'fast' ? cosineFast(tf, eHat, w) : cosinePlain(tf, eHat, w);
        const cos = tf.clipByValue(raw, -1, 1) as Tensor2D;
        const m = c.margin;
        const logits = m.kind === 'softmax'
          ? tf.add(tf.matMul(e, w), p.get('classifier/bias')) as Tensor2D
          : (ctx.k.choice.cosine === 'fast' ? marginLogitsFast : marginLogits)(tf, m, cos, labels);
        return { logits, cos };
      });
    },
  };
}

/** Mean softmax cross-entropy of integer labels: logsumexp(logits) − logit[label], with its
 *  gradient (softmax(logits) − onehot)/B by hand: it keeps only the logits (alive anyway) where
 *  autodiff would hold half a dozen (B × C) intermediates and their gradients until the backward
 *  pass ends. */
export function crossEntropy(tf: Tf, logits: Tensor2D, labels: Tensor1D): Scalar {
  const mask = (l: Tensor, c: number) => tf.cast(tf.oneHot(tf.cast(l, 'int32'), c), 'float32');
  const op = tf.customGrad((x, save) => {
    const xt = x as Tensor2D;
    (save as (ts: Tensor[]) => void)([xt, labels]);
    return {
      value: tf.tidy(() => tf.mean(tf.sub(tf.logSumExp(xt, 1), tf.sum(tf.mul(xt, mask(labels, xt.shape[1])), 1)))) as Scalar,
      gradFunc: (dy: Tensor, [sx, l]: Tensor[]) => tf.tidy(() =>
        tf.mul(tf.sub(tf.softmax(sx!), mask(l!, sx!.shape[1]!)), tf.div(dy, sx!.shape[0]!))),
    };
  });
  return op(logits) as Scalar;
}

/** Fraction of rows whose argmax is the label. */
export function accuracy(tf: Tf, scores: Tensor2D, labels: Tensor1D): Scalar {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(scores, 1), tf.cast(labels, 'int32')), 'float32')) as Scalar);
}
