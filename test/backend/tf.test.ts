// Backend resolution without the native build: forced choices, errors, and the pure-JS path.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { loadTf } from '../../src/backend/tf.js';
import { backendModule, runChild, tempDir, withEnv } from './helpers.js';

const projectHas = (pkg: string): boolean => {
  try {
    createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
};

test('an invalid FACEPIPE_BACKEND is rejected with the valid choices', async () => {
  await withEnv({ FACEPIPE_BACKEND: 'tpu' }, () =>
    assert.rejects(loadTf({ quiet: true }), /FACEPIPE_BACKEND='tpu' is not one of auto, gpu, cpu, js/));
});

test('a forced backend that is not available fails clearly instead of falling back',
  { skip: projectHas('@tensorflow/tfjs-node-gpu') && 'the project has tfjs-node-gpu installed' }, async () => {
    const empty = await tempDir(); // a cache dir with no builds in it
    await withEnv({ FACEPIPE_CACHE_DIR: empty, FACEPIPE_BACKEND: 'gpu' }, () =>
      assert.rejects(loadTf({ quiet: true }), (e: Error) => {
        assert.match(e.message, /^FACEPIPE_BACKEND=gpu: no such backend could be loaded/);
        assert.match(e.message, /tfjs-node-gpu \(facepipe cache\): not built/);
        assert.match(e.message, /npx facepipe setup --gpu/);
        return true;
      }));
    // Same through the option instead of the environment.
    if (!projectHas('@tensorflow/tfjs-node')) {
      await withEnv({ FACEPIPE_CACHE_DIR: empty, FACEPIPE_BACKEND: undefined }, () =>
        assert.rejects(loadTf({ prefer: 'cpu', quiet: true }), /backend preference 'cpu'[\s\S]*npx facepipe setup`/));
    }
  });

test('FACEPIPE_BACKEND=js resolves to the pure-JS cpu backend and computes', async () => {
  const { tf, info } = await withEnv({ FACEPIPE_BACKEND: 'js' }, () => loadTf({ quiet: true }));
  assert.equal(info.backend, 'cpu');
  assert.equal(info.package, '@tensorflow/tfjs');
  assert.equal(info.location, 'project');
  assert.equal(info.gpu, false);
  assert.equal(tf.getBackend(), 'cpu');
  const c = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]]));
  assert.deepEqual(c.arraySync(), [[19, 22], [43, 50]]);
  // Cached per process: the same object again, and a conflicting request is refused.
  assert.equal((await loadTf({ prefer: 'js', quiet: true })).tf, tf);
  await withEnv({ FACEPIPE_BACKEND: undefined }, () =>
    assert.rejects(loadTf({ prefer: 'cpu' }), /already uses 'js'/));
});

test('with nothing native available, auto falls back to pure JS with a loud warning and no tfjs banner',
  { skip: (projectHas('@tensorflow/tfjs-node') || projectHas('@tensorflow/tfjs-node-gpu')) && 'stock tfjs-node installed' },
  async () => {
    const r = await runChild(
      `const { loadTf } = await import(${JSON.stringify(backendModule('tf.js'))});
       const { tf, info } = await loadTf();
       tf.add(tf.tensor([1, 2]), 1).dataSync();
       console.log(JSON.stringify(info));`,
      { FACEPIPE_CACHE_DIR: await tempDir(), FACEPIPE_BACKEND: undefined },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim()).backend, 'cpu');
    assert.match(r.stderr, /WARNING: no native TensorFlow backend could be loaded/);
    assert.match(r.stderr, /npx facepipe setup/);
    assert.doesNotMatch(r.stderr, /Hi, looks like you are running TensorFlow\.js/);
  });
