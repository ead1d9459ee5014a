// The evaluate stage on the real small_lfw.bin with a tiny model trained here, its files (NumPy
// reads the embeddings), and `facepipe eval` in both forms.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { findPythonRef } from '../../../src/backend/python.js';
import { readNpy } from '../../../src/eval/npy.js';
import { verify } from '../../../src/eval/verification.js';
import { facepipe, sharedData, tempDir, writeFiles } from '../../helpers.js';

const SMALL_LFW = path.join(sharedData, 'bin', 'small_lfw.bin');

const PIPELINE = `stages:
  faces:
    uses: synth
    with: {identities: 4, images_per_identity: 3, holdout_identities: 0}
  shards:
    uses: convert
    with: {input: "\${{ stages.faces.out }}", shards: 1}
  train:
    uses: train
    with:
      data: \${{ stages.shards.out }}
      steps: 3
      batch_size: 6
      lr: {kind: constant, initial: 0.01}
      model: {depth: 18, widths: [4, 8, 8, 8], stem: 4, embedding: 16}
      input: {channels: bgr}
  evaluate:
    uses: evaluate
    with: {model: "\${{ stages.train.out }}/model", bins: [${SMALL_LFW}]}
`;

interface Stage {
  name: string;
  outDir: string;
  metrics: Record<string, number>;
}

test('a tiny model trained here evaluates on the real small_lfw.bin, with insightface-style outputs', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': PIPELINE });
  const r = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  const ev = (JSON.parse(r.stdout) as { stages: Stage[] }).stages.find((s) => s.name === 'evaluate')!;
  const emb = await readNpy(path.join(ev.outDir, 'small_lfw.emb.npy'));
  const flip = await readNpy(path.join(ev.outDir, 'small_lfw.emb_flip.npy'));
  assert.deepEqual([emb.rows, emb.cols, flip.rows], [20, 16, 20]);
  const issame = JSON.parse(await readFile(path.join(ev.outDir, 'small_lfw.issame.json'), 'utf8')) as boolean[];
  assert.deepEqual(issame, Array(10).fill(true));
  const metrics = JSON.parse(await readFile(path.join(ev.outDir, 'metrics.json'), 'utf8')) as { channels: string; size: number; datasets: Record<string, Record<string, unknown>> };
  assert.equal(metrics.channels, 'bgr', 'the channel order training used');
  assert.equal(metrics.size, 112);
  const m = metrics.datasets.small_lfw!;
  const again = verify({ emb: emb.data, embFlip: flip.data, dim: 16, issame });
  assert.equal(m.accuracy, again.accuracy.mean);
  assert.equal(m.xnorm, again.xnorm);
  assert.equal(m.pairs, 10);
  assert.equal(m.val, null, 'all pairs are same-identity: VAL@FAR is undefined, as in insightface (which raises)');
  const log = await readFile(path.join(dir, 'runs', 'p', 'latest', 'logs', 'evaluate.log'), 'utf8');
  assert.match(log, /\[small_lfw\]XNorm: \d+\.\d{6}\n\[small_lfw\]Accuracy-Flip: \d\.\d{5}\+-\d\.\d{5}/);
  assert.equal(ev.metrics.small_lfw_accuracy, m.accuracy);

  const recomputed = await facepipe(['eval', '--embeddings', ev.outDir, '--json'], { cwd: dir });
  assert.equal(recomputed.exitCode, 0, recomputed.all);
  assert.deepEqual((JSON.parse(recomputed.stdout) as { datasets: object }).datasets, metrics.datasets);

  const python = findPythonRef();
  if (python) {
    const out = execFileSync(python, ['-c', `import numpy as np; a = np.load(${JSON.stringify(path.join(ev.outDir, 'small_lfw.emb.npy'))}); print(a.shape, a.dtype, repr(float(a[3, 5])))`], { encoding: 'utf8' });
    const [shape, value] = [out.slice(0, out.lastIndexOf(' ')), Number(out.slice(out.lastIndexOf(' ') + 1))];
    assert.equal(shape, '(20, 16) float32');
    assert.equal(value, emb.data[3 * 16 + 5]);
  } else {
    t.diagnostic('no reference Python (facepipe setup --python): NumPy check skipped');
  }

  const direct = await facepipe(['eval', '--model', path.join(dir, 'runs', 'p', 'latest', 'outputs', 'train', 'model'), '--bin', SMALL_LFW, '--out', 'ev'], { cwd: dir });
  assert.equal(direct.exitCode, 0, direct.all);
  assert.match(direct.stdout, /\[small_lfw\]Accuracy-Flip: /);
  const directMetrics = JSON.parse(await readFile(path.join(dir, 'ev', 'metrics.json'), 'utf8')) as typeof metrics;
  assert.deepEqual(directMetrics.datasets, metrics.datasets, 'the command and the stage agree exactly');
});

test('a requested set that is not in the data folder is a clear error', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'p.yaml': 'stages:\n  evaluate:\n    uses: evaluate\n    with: {model: m, data: d, datasets: [lfw]}\n',
    'm/model.json': '{}',
    'd/cfp_fp.bin': 'x',
  });
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.stdout, /lfw\.bin is not in .*\/d — list the sets that exist there in datasets:, or give bins:/);
});
