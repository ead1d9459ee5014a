// Export → tf.loadLayersModel → the same embeddings as the training code's inference mode, for
// every normalisation kind and both PReLU shapes.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import { NORM, type BackboneConfig } from '../../src/model/config.js';
import { EXPORT_FORMAT, loadEmbeddingModel, saveEmbeddingModel } from '../../src/model/export.js';
import { createFaceModel, type FaceModel } from '../../src/model/model.js';
import { GROUP2, getTf, relErr, tinyBackbone } from './helpers.js';

const tf = await getTf();

/** Moves every variable away from its initial value, so that a weight exported into the wrong
 *  slot (γ for β, mean for variance …) shows. */
function perturb(m: FaceModel): void {
  m.params.list.forEach((p, i) => {
    const noise = tf.randomUniform(p.spec.shape, -0.2, 0.2, 'float32', 100 + i);
    // Variances must stay positive.
    p.v.assign(p.spec.name.endsWith('variance') || p.spec.name.endsWith('stddev') ? tf.add(p.v, tf.abs(noise)) : tf.add(p.v, noise));
  });
}

const cases: [string, Partial<BackboneConfig>][] = [
  ['batch norm, PReLU per channel', {}],
  ['renorm, PReLU per element', { norm: NORM.renorm, prelu: { kind: 'element', init: 0 } }],
  ['group norm', { norm: GROUP2 }],
];

for (const [what, over] of cases) {
  test(`export → tf.loadLayersModel gives the same embeddings (${what})`, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'facepipe-export-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const backbone = tinyBackbone(over);
    const m = createFaceModel(tf, { backbone, regularization: { kind: 'none' } }, { seed: 3 });
    perturb(m);
    await saveEmbeddingModel(tf, backbone, m.params, dir, { pixels: '(x - 127.5) * 0.0078125' });
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as { format: string; userDefinedMetadata?: unknown };
    assert.equal(json.format, 'layers-model');
    // Plain tfjs, no facepipe code: the model loads and predicts.
    const plain = await tf.loadLayersModel(`file://${path.join(dir, 'model.json')}`);
    const x = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 9) as Tensor4D;
    const want = m.embed(x, { training: false });
    const e = relErr(plain.predict(x) as Tensor, want);
    assert.ok(e < 1e-5, `relative error ${e}`);
    const loaded = await loadEmbeddingModel(tf, dir);
    assert.equal(loaded.metadata?.format, EXPORT_FORMAT);
    assert.deepEqual(loaded.metadata?.backbone, backbone);
    assert.deepEqual(loaded.metadata?.extra, { pixels: '(x - 127.5) * 0.0078125' });
    assert.ok(relErr(loaded.embed(x), want) < 1e-5);
    plain.dispose();
    loaded.dispose();
    m.dispose();
  });
}
