import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage } from '../../../src/formats/image.js';
import { openDataset } from '../../../src/formats/insightface.js';
import { imageInfo } from '../../../src/formats/jpeg-info.js';
import { readVerificationBin } from '../../../src/formats/verification-bin.js';
import { facepipe, tempDir, writeFiles } from '../../helpers.js';

interface Stage {
  status: string;
  outDir: string;
  metrics: Record<string, unknown>;
}

async function synth(dir: string, withFlow: string): Promise<Stage> {
  await writeFiles(dir, { 'p.yaml': `stages:\n  synth:\n    uses: synth\n    with: {${withFlow}}\n` });
  const r = await facepipe(['run', 'p.yaml', '--json', '--force', 'all'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  return (JSON.parse(r.stdout) as { stages: Stage[] }).stages[0]!;
}

const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');
const SMALL = 'identities: 6, images_per_identity: 4, holdout_identities: 4, pairs: 20';

test('a small synthetic set is a real insightface dataset with a balanced held-out .bin', async (t) => {
  const out = await synth(await tempDir(t), SMALL);
  const { images_per_second, ...counts } = out.metrics;
  assert.deepEqual(counts, { images: 24, classes: 6, holdout_identities: 4, pairs: 20 });
  assert.ok(typeof images_per_second === 'number' && images_per_second > 0);
  const ds = await openDataset(out.outDir);
  try {
    assert.equal(ds.layout, 'insightface');
    assert.deepEqual(ds.property, { numClasses: 6, height: 112, width: 112 });
    assert.equal(ds.imageKeys.length, 24);
    for (const key of ds.imageKeys) {
      const { label, image } = await ds.readImage(key);
      assert.equal(label, Math.floor((key - 1) / 4), `image ${key}`);
      const info = imageInfo(image);
      assert.deepEqual([info.format, info.width, info.height, info.components, info.subsampling], ['jpeg', 112, 112, 3, '4:2:0']);
    }
  } finally {
    await ds.close();
  }
  const bin = await readVerificationBin(path.join(out.outDir, 'holdout.bin'));
  assert.equal(bin.images.length, 40);
  // LFW's fold layout: with 20 pairs, each tenth is one same pair then one different pair.
  assert.deepEqual(bin.issame, Array.from({ length: 20 }, (_, i) => i % 2 === 0));
  const decoded = await decodeImage(bin.images[0]!);
  assert.deepEqual([decoded.width, decoded.height, decoded.channels], [112, 112, 3]);
  const lines = (await readFile(path.join(out.outDir, 'holdout.pairs.txt'), 'utf8')).trim().split('\n');
  lines.forEach((line, i) => {
    const [a, b, same] = line.split('\t') as [string, string, string];
    assert.match(`${a} ${b}`, /^h000[0-3]\/\d{4} h000[0-3]\/\d{4}$/, 'pairs use held-out people only');
    assert.equal(same === '1', a.split('/')[0] === b.split('/')[0]);
    assert.equal(same === '1', bin.issame[i]);
  });
  const meta = JSON.parse(await readFile(path.join(out.outDir, 'synth.json'), 'utf8'));
  assert.deepEqual(meta.parameters, { identities: 6, images_per_identity: 4, holdout_identities: 4, pairs: 20, size: 112, seed: 0, quality: 95, difficulty: 'normal' });
  assert.equal(meta.variation, 0.5);
  assert.equal(meta.train.images, 24);
});

test('rendering is byte-identical for the same seed; another seed draws other people and photos', async (t) => {
  const [a, b, c] = await Promise.all([synth(await tempDir(t), SMALL), synth(await tempDir(t), SMALL), synth(await tempDir(t), `${SMALL}, seed: 1`)]);
  for (const f of ['train.rec', 'train.idx', 'property', 'holdout.bin', 'holdout.pairs.txt', 'synth.json']) {
    assert.equal(await sha(path.join(a.outDir, f)), await sha(path.join(b.outDir, f)), f);
  }
  const first = async (o: Stage) => (await readVerificationBin(path.join(o.outDir, 'holdout.bin'))).images[0]!;
  const [pa, pc] = [await decodeImage(await first(a)), await decodeImage(await first(c))];
  assert.ok(meanAbsDiff(pa.data, pc.data) > 10, 'another seed gives visibly different images');
});

test('faces are learnable but not trivial: people differ more than their photos, raw pixels verify well above chance yet far from perfect', async (t) => {
  const out = await synth(await tempDir(t), 'identities: 10, images_per_identity: 8, holdout_identities: 20, pairs: 200');
  const ds = await openDataset(out.outDir);
  const train: { label: number; v: Float64Array }[] = [];
  try {
    for (const key of ds.imageKeys) {
      const r = await ds.readImage(key);
      train.push({ label: r.label, v: await greyVector(r.image) });
    }
  } finally {
    await ds.close();
  }
  const [within, between] = [[] as number[], [] as number[]];
  for (let i = 0; i < train.length; i++) {
    for (let j = i + 1; j < train.length; j++) (train[i]!.label === train[j]!.label ? within : between).push(1 - cosine(train[i]!.v, train[j]!.v));
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  t.diagnostic(`mean cosine distance: photos of one person ${mean(within).toFixed(4)}, different people ${mean(between).toFixed(4)}`);
  assert.ok(mean(within) < 0.8 * mean(between), `photos of one person (mean cosine distance ${mean(within).toFixed(4)}) are closer than different people (${mean(between).toFixed(4)})`);

  const bin = await readVerificationBin(path.join(out.outDir, 'holdout.bin'));
  const vs = await Promise.all(bin.images.map(greyVector));
  const acc = bestThresholdAccuracy(bin.issame.map((_, i) => cosine(vs[2 * i]!, vs[2 * i + 1]!)), bin.issame);
  t.diagnostic(`raw-pixel baseline: ${(100 * acc).toFixed(1)}% on ${bin.issame.length} held-out pairs`);
  // Measured 67.5% here; 72.8% on the default set (600 pairs), 65–73% over seeds 0–2. A trained
  // model must have room to do better, and the faces must not be noise to raw pixels either.
  assert.ok(acc > 0.6 && acc < 0.85, `raw-pixel baseline accuracy ${acc.toFixed(3)}`);
});

test('inconsistent parameters are clear errors', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  synth:\n    uses: synth\n    with: {holdout_identities: 1, pairs: 10}\n' });
  let r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.all, /pairs: 10 needs held-out people to draw from: set holdout_identities to 2 or more, or pairs to 0/);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  synth:\n    uses: synth\n    with: {difficulty: medium}\n' });
  r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 2);
  assert.match(r.all, /p\.yaml:4:\d+ +stages\.synth\.with\.difficulty: .*"medium".*'easy' \(0\.25\), 'normal'/s);
});

/** The trivial baseline: grey pixels downscaled to 24×24, as one vector. */
async function greyVector(jpeg: Buffer): Promise<Float64Array> {
  const data = await sharp(jpeg).greyscale().resize(24, 24, { kernel: 'cubic' }).raw().toBuffer();
  return Float64Array.from(data);
}

function cosine(a: Float64Array, b: Float64Array): number {
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i]! * b[i]!, aa + a[i]! * a[i]!, bb + b[i]! * b[i]!];
  return ab / Math.sqrt(aa * bb);
}

/** Accuracy at the best single similarity threshold (optimistic: chosen on the pairs themselves). */
function bestThresholdAccuracy(sims: number[], same: boolean[]): number {
  const order = [...sims.keys()].sort((i, j) => sims[j]! - sims[i]!);
  const negatives = same.filter((s) => !s).length;
  let [tp, fp, best] = [0, 0, negatives / same.length];
  for (const i of order) {
    if (same[i]) tp++;
    else fp++;
    best = Math.max(best, (tp + negatives - fp) / same.length);
  }
  return best;
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}
