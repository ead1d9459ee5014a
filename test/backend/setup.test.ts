// The real native build: set up (cached after the first run) and load it.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readStamp } from '../../src/backend/commit.js';
import { TENSORFLOW_VERSION } from '../../src/backend/paths.js';
import { setup } from '../../src/backend/setup.js';
import { loadTf } from '../../src/backend/tf.js';

const lines: string[] = [];
const log = (l: string): void => { lines.push(l); };

test('after setup the native TensorFlow backend loads', { timeout: 20 * 60_000 }, async () => {
  const r = await setup({ gpu: false, force: false, log });
  assert.ok(['built', 'cached', 'already-native'].includes(r.status), r.status);
  assert.equal(r.variant, 'cpu');

  const { tf, info } = await loadTf({ prefer: 'cpu', quiet: true });
  assert.equal(tf.getBackend(), 'tensorflow');
  assert.equal(info.backend, 'tensorflow');
  assert.equal(info.path, r.packageDir);
  if (r.status !== 'already-native') {
    assert.equal(info.location, 'facepipe-cache');
    assert.equal(info.tensorflowVersion, TENSORFLOW_VERSION);
  }
  // Defaults applied before the library loaded (unless the user set them).
  assert.equal(process.env.TF_NUM_INTEROP_THREADS !== undefined, true);
  assert.equal(info.threads.onednn, process.env.TF_ENABLE_ONEDNN_OPTS === '1');
  const c = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]]));
  assert.deepEqual(c.arraySync(), [[19, 22], [43, 50]]);
});

test('a second setup returns cached without rebuilding', { timeout: 20 * 60_000 }, async (t) => {
  const first = await setup({ gpu: false, force: false, log });
  if (first.status === 'already-native') return t.skip('the project\'s own tfjs-node works; nothing is cached');
  const stampBefore = await readStamp(first.installDir);
  const addon = join(first.packageDir, 'lib', 'napi-v8', 'tfjs_binding.node');
  const addonBefore = (await stat(addon)).mtimeMs;
  lines.length = 0;

  const second = await setup({ gpu: false, force: false, log });
  assert.equal(second.status, 'cached');
  assert.equal(second.installDir, first.installDir);
  assert.ok(second.seconds < 30, `cached setup took ${second.seconds} s`);
  assert.deepEqual(await readStamp(second.installDir), stampBefore);
  assert.equal((await stat(addon)).mtimeMs, addonBefore);
  assert.ok(!lines.some((l) => /compiling|npm install|extracting/.test(l)), lines.join('\n'));
});
