// Convolution: MXNet/PyTorch symmetric padding (checked against a direct loop with PyTorch's
// output positions), the native implementations against the plain one, and the undocumented
// TensorFlow behaviour the 'eigen-dw' implementation relies on.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import { loadedBackend } from '../../src/backend/tf.js';
import { convOut, makeConv2d, type ConvGeom } from '../../src/model/conv.js';
import { nativeOps } from '../../src/model/native.js';
import { getTf, isNative, relErr } from './helpers.js';

const tf = await getTf();

/** PyTorch Conv2d(padding=p, stride=s, bias=False), NHWC/HWIO: out[i] reads in[s·i − p + k]. */
function direct(x: Tensor, w: Tensor, g: ConvGeom): Float32Array {
  const [n, h, wd, ci] = x.shape as number[];
  const [k, , , co] = w.shape as number[];
  const xv = x.dataSync();
  const wv = w.dataSync();
  const ho = convOut(h!, k!, g);
  const wo = convOut(wd!, k!, g);
  const out = new Float32Array(n! * ho * wo * co!);
  for (let b = 0; b < n!; b++) for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) for (let o = 0; o < co!; o++) {
    let s = 0;
    for (let di = 0; di < k!; di++) for (let dj = 0; dj < k!; dj++) {
      const r = g.stride * i - g.pad + di;
      const c = g.stride * j - g.pad + dj;
      if (r < 0 || r >= h! || c < 0 || c >= wd!) continue;
      for (let q = 0; q < ci!; q++) s += xv[((b * h! + r) * wd! + c) * ci! + q]! * wv[((di * k! + dj) * ci! + q) * co! + o]!;
    }
    out[((b * ho + i) * wo + j) * co! + o] = s;
  }
  return out;
}

const geoms: [number, ConvGeom][] = [[3, { stride: 2, pad: 1 }], [3, { stride: 1, pad: 1 }], [1, { stride: 2, pad: 0 }]];
for (const impl of ['plain', 'onednn', 'eigen-dw', 'explicit'] as const) {
  test(`conv '${impl}' has PyTorch's output positions (stride 2, symmetric pad 1: 8 → 4)`, () => {
    const conv = makeConv2d(tf, impl, nativeOps(tf));
    for (const [k, g] of geoms) {
      const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1) as Tensor4D;
      const w = tf.randomNormal([k, k, 3, 4], 0, 1, 'float32', 2) as Tensor4D;
      const y = conv(x, w, g);
      assert.deepEqual(y.shape, [2, convOut(8, k, g), convOut(8, k, g), 4]);
      assert.ok(relErr(y, direct(x, w, g)) < 1e-5, `${impl} k${k} ${JSON.stringify(g)}`);
    }
    // TF 'SAME' would read rows 2i … 2i+2 instead: a different function.
    const x = tf.randomNormal([1, 8, 8, 2], 0, 1, 'float32', 3) as Tensor4D;
    const w = tf.randomNormal([3, 3, 2, 2], 0, 1, 'float32', 4) as Tensor4D;
    assert.ok(relErr(tf.conv2d(x, w, 2, 'same'), conv(x, w, { stride: 2, pad: 1 })) > 0.1);
  });
}

for (const impl of ['onednn', 'eigen-dw', 'explicit'] as const) {
  test(`conv '${impl}' gradients match the plain pad + VALID conv's autodiff`, () => {
    assert.ok(isNative(tf), 'needs the native backend');
    const fast = makeConv2d(tf, impl, nativeOps(tf));
    const plain = makeConv2d(tf, 'plain', undefined);
    for (const [k, g] of geoms) {
      const x = tf.randomNormal([2, 10, 10, 3], 0, 1, 'float32', 5);
      const w = tf.randomNormal([k, k, 3, 4], 0, 1, 'float32', 6);
      const dy = tf.randomNormal([2, convOut(10, k, g), convOut(10, k, g), 4], 0, 1, 'float32', 7);
      const f = (c: typeof fast) => (a: Tensor, b: Tensor) => tf.sum(tf.mul(c(a as Tensor4D, b as Tensor4D, g), dy));
      const got = tf.grads(f(fast))([x, w]);
      const want = tf.grads(f(plain))([x, w]);
      assert.ok(relErr(got[0]!, want[0]!) < 1e-5, `dx ${impl} k${k}`);
      assert.ok(relErr(got[1]!, want[1]!) < 1e-5, `dw ${impl} k${k}`);
    }
  });
}

// NOTES: with oneDNN on, Conv2DBackpropFilter with padding 'EXPLICIT' runs TF's own kernel, faster
// here than oneDNN's; the same holds for Conv2DBackpropInput, which 'explicit' relies on too.
// Undocumented, so it is checked directly: oneDNN logs every primitive it executes under
// ONEDNN_VERBOSE=1. If this fails, TensorFlow changed: re-measure the conv implementations
// (node dist/bench/model.js --all) and pick the fastest in kernels.ts.
test("conv gradients with padding 'EXPLICIT' do not run oneDNN's kernels (and with 'VALID' do)", async () => {
  assert.ok(isNative(tf), 'needs the native backend');
  const info = await loadedBackend();
  const script = `
    const tf = require(${JSON.stringify(info!.path)});
    const b = tf.backend(), B = b.binding;
    const padding = process.argv[1];
    const attrs = [
      { name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
      { name: 'strides', type: B.TF_ATTR_INT, value: [1, 1, 1, 1] },
      { name: 'padding', type: B.TF_ATTR_STRING, value: padding },
      { name: 'data_format', type: B.TF_ATTR_STRING, value: 'NHWC' },
      { name: 'dilations', type: B.TF_ATTR_INT, value: [1, 1, 1, 1] },
      ...(padding === 'EXPLICIT' ? [{ name: 'explicit_paddings', type: B.TF_ATTR_INT, value: [0, 0, 0, 0, 0, 0, 0, 0] }] : []),
    ];
    const x = tf.randomNormal([2, 10, 10, 8]), w = tf.randomNormal([3, 3, 8, 16]), dy = tf.randomNormal([2, 8, 8, 16]);
    const run = (op, inputs) => b.executeMultipleOutputs(op, attrs, inputs, 1)[0].dataSync();
    run('Conv2DBackpropFilter', [x, tf.tensor1d([3, 3, 8, 16], 'int32'), dy]);
    run('Conv2DBackpropInput', [tf.tensor1d([2, 10, 10, 8], 'int32'), w, dy]);
    console.log('DONE');`;
  const run = async (padding: string) => (await promisify(execFile)(process.execPath, ['-e', script, padding], {
    env: { ...process.env, ONEDNN_VERBOSE: '1', TF_ENABLE_ONEDNN_OPTS: '1', TF_CPP_MIN_LOG_LEVEL: '2' },
  })).stdout;
  const onednn = (kind: string) => new RegExp(`onednn_verbose.*exec.*convolution.*${kind}`);
  const valid = await run('VALID');
  assert.match(valid, /DONE/);
  // Control: oneDNN runs (and logs) both VALID gradients, so the check below can see them.
  assert.match(valid, onednn('backward_weights'));
  assert.match(valid, onednn('backward_data'));
  const explicit = await run('EXPLICIT');
  assert.match(explicit, /DONE/);
  assert.doesNotMatch(explicit, onednn('backward_weights'));
  assert.doesNotMatch(explicit, onednn('backward_data'));
});
