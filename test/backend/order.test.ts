// Resolution order among real native builds: cached GPU build before cached CPU build before
// pure JS, and FACEPIPE_BACKEND narrowing it. The "GPU build" is a hard-linked copy of the CPU
// build under the GPU name (the binding code is the same; no GPU needed to test the order).
import assert from 'node:assert/strict';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { nativeDir, packageDirIn } from '../../src/backend/paths.js';
import { backendModule, linkCopy, realBuild, runChild, tempDir, withEnv } from './helpers.js';

let built = '';
before(async () => { built = await realBuild(); }, { timeout: 20 * 60_000 });

const LOAD = `const { loadTf } = await import(${JSON.stringify(backendModule('tf.js'))});
  const { tf, info } = await loadTf({ quiet: true });
  console.log(JSON.stringify({ ...info, now: tf.getBackend() }));`;

async function cacheWith(builds: Array<'cpu' | 'gpu'>): Promise<string> {
  const cache = await tempDir();
  // nativeDir() resolves inside FACEPIPE_CACHE_DIR.
  await withEnv({ FACEPIPE_CACHE_DIR: cache }, async () => {
    await mkdir(join(cache, 'native'));
    for (const v of builds) {
      await linkCopy(built, nativeDir(v));
      if (v === 'gpu') await rename(packageDirIn(nativeDir(v), 'cpu'), packageDirIn(nativeDir(v), 'gpu'));
    }
  });
  return cache;
}

test('auto prefers a cached GPU build over the cached CPU build; FACEPIPE_BACKEND=cpu picks the CPU one', async (t) => {
  if (!built) return t.skip('no cached build (the project\'s own tfjs-node is used)');
  const both = await cacheWith(['cpu', 'gpu']);
  const g = await runChild(LOAD, { FACEPIPE_CACHE_DIR: both, FACEPIPE_BACKEND: undefined });
  assert.equal(g.exitCode, 0, g.stderr);
  const gi = JSON.parse(g.stdout.trim());
  assert.deepEqual([gi.gpu, gi.package, gi.location, gi.now], [true, '@tensorflow/tfjs-node-gpu', 'facepipe-cache', 'tensorflow']);

  const c = await runChild(LOAD, { FACEPIPE_CACHE_DIR: both, FACEPIPE_BACKEND: 'cpu' });
  assert.equal(c.exitCode, 0, c.stderr);
  const ci = JSON.parse(c.stdout.trim());
  assert.deepEqual([ci.gpu, ci.package, ci.now], [false, '@tensorflow/tfjs-node', 'tensorflow']);

  const cpuOnly = await cacheWith(['cpu']);
  const a = await runChild(LOAD, { FACEPIPE_CACHE_DIR: cpuOnly, FACEPIPE_BACKEND: undefined });
  assert.equal(a.exitCode, 0, a.stderr);
  const ai = JSON.parse(a.stdout.trim());
  assert.deepEqual([ai.gpu, ai.location, ai.now, ai.path], [false, 'facepipe-cache', 'tensorflow', packageDirIn(join(cpuOnly, 'native', 'tfjs-node-4.22.0-tf2.21.0-cpu'), 'cpu')]);
  assert.doesNotMatch(a.stderr, /WARNING: no native/);
});

test('a build dir without a stamp is ignored (unfinished setup)', async (t) => {
  if (!built) return t.skip('no cached build');
  const cache = await cacheWith(['cpu']);
  await unlink(join(cache, 'native', 'tfjs-node-4.22.0-tf2.21.0-cpu', 'facepipe-stamp.json'));
  const r = await runChild(LOAD, { FACEPIPE_CACHE_DIR: cache, FACEPIPE_BACKEND: undefined });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()).backend, 'cpu');
  assert.match(r.stderr, /WARNING: no native TensorFlow backend/);
});
