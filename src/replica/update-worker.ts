// A worker thread of SharedUpdate (shared-update.ts): for each chunk it is given, the mean of the
// replicas' gradients (+ the L2 gradient), one SGD-with-momentum step on the shared weights, and
// the new values written into the replicas' weights file; for moving statistics, their mean.
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { Chunk, UpdateJob } from './shared-update.js';

interface Data {
  w: Float32Array;
  v: Float32Array;
  s: Float32Array;
  grads: SharedArrayBuffer[];
  /** This worker's chunks, for the whole run. */
  chunks: Chunk[];
  fd: number;
}

const d = workerData as Data;
const g = d.grads.map((b) => new Float32Array(b));
const R = g.length;

function writeOut(src: Float32Array, at: number, length: number, fileIndex: number): void {
  const b = Buffer.from(src.buffer, src.byteOffset + 4 * at, 4 * length);
  for (let done = 0; done < b.length;) done += writeSync(d.fd, b, done, b.length - done, 4 * fileIndex + done);
}

/** Σw² of the chunk before the update (regularised chunks only), then the update. Mirrors
 *  Sgd.apply: v ← μ·v − lr·g; w ← (w − lr·λ·w) + v, with g = mean + l2·w. */
function weights(c: Chunk, j: Extract<UpdateJob, { mode: 'step' }>): number {
  const { w, v } = d;
  const { lr, momentum, weightDecay } = j;
  const l2 = c.regularized ? j.l2 : 0;
  const decay = lr * weightDecay;
  let sq = 0;
  for (let i = 0; i < c.length; i++) {
    const gi = c.grad + i;
    let sum = g[0]![gi]!;
    for (let r = 1; r < R; r++) sum += g[r]![gi]!;
    const wi = w[c.at + i]!;
    if (c.regularized) sq += wi * wi;
    const vi = Math.fround(momentum * v[c.at + i]! - lr * Math.fround(Math.fround(sum / R) + l2 * wi));
    v[c.at + i] = vi;
    w[c.at + i] = Math.fround(wi - wi * decay) + vi;
  }
  writeOut(w, c.at, c.length, c.file);
  return sq;
}

function state(c: Chunk): void {
  const { s } = d;
  for (let i = 0; i < c.length; i++) {
    let sum = g[0]![c.grad + i]!;
    for (let r = 1; r < R; r++) sum += g[r]![c.grad + i]!;
    s[c.at + i] = sum / R;
  }
  writeOut(s, c.at, c.length, c.file);
}

parentPort!.on('message', (job: UpdateJob) => {
  const sums = d.chunks.map((c) => {
    if (job.mode === 'write') {
      writeOut(c.kind === 'weight' ? d.w : d.s, c.at, c.length, c.file);
      return 0;
    }
    if (c.kind === 'state') {
      state(c);
      return 0;
    }
    return weights(c, job);
  });
  parentPort!.postMessage({ sums });
});
