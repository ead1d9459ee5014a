import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { decodeImageExample } from '../../../src/formats/example.js';
import { encodeJpeg } from '../../../src/formats/image.js';
import { openDataset, writeInsightface } from '../../../src/formats/insightface.js';
import { packIR } from '../../../src/formats/irheader.js';
import { RecordWriter } from '../../../src/formats/recordio-writer.js';
import { readTfRecords } from '../../../src/formats/tfrecord.js';
import { planShards } from '../../../stages/convert/shards.js';
import { Digester } from '../../../src/store/digest.js';
import { StatCache } from '../../../src/store/stat-cache.js';
import { facepipe, sharedData, tempDir, writeFiles } from '../../helpers.js';

interface Stage {
  status: string;
  outDir: string;
  metrics: Record<string, unknown>;
}

const ADAFACE = path.join(sharedData, 'rec', 'adaface_popkorn', 'data_train.rec');

async function convert(dir: string, withBlock: string, expectOk = true): Promise<{ stage?: Stage; all: string }> {
  await writeFiles(dir, { 'p.yaml': `stages:\n  convert:\n    uses: convert\n    with:\n${withBlock.replace(/^/gm, '      ')}\n` });
  const r = await facepipe(['run', 'p.yaml', '--json', '--force', 'all'], { cwd: dir });
  if (expectOk) assert.equal(r.exitCode, 0, r.all);
  return { stage: r.exitCode === 0 ? (JSON.parse(r.stdout) as { stages: Stage[] }).stages[0] : undefined, all: r.all ?? '' };
}

async function readShards(outDir: string): Promise<{ file: string; examples: { image: Buffer; label: number }[] }[]> {
  const files = (await readdir(outDir)).filter((f) => f.endsWith('.tfrecord')).sort();
  const out = [];
  for (const f of files) {
    const examples = [];
    for await (const r of readTfRecords(path.join(outDir, f))) {
      const ex = decodeImageExample(r.data);
      examples.push({ image: Buffer.from(ex.image), label: ex.label });
    }
    out.push({ file: f, examples });
  }
  return out;
}

/** A small insightface-layout dataset: `classes` people × `per` solid-colour JPEGs. */
async function syntheticDataset(dir: string, classes: number, per: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const items = [];
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < per; i++) items.push({ label: c, image: await encodeJpeg(new Uint8Array(16 * 16 * 3).fill((c * 37 + i * 11) % 256), 16, 16, 3) });
  }
  await writeInsightface(dir, items, { imageSize: [16, 16] });
}

test('the real im2rec file converts to TFRecords whose JPEGs are the originals, byte for byte', async (t) => {
  const dir = await tempDir(t);
  const { stage } = await convert(dir, `input: ${ADAFACE}\nshards: 3`);
  const shards = await readShards(stage!.outDir);
  assert.deepEqual(shards.map((s) => s.file), ['train-00000-of-00003.tfrecord', 'train-00001-of-00003.tfrecord', 'train-00002-of-00003.tfrecord']);
  assert.deepEqual(shards.map((s) => s.examples.length), [2, 3, 3]);
  const ds = await openDataset(ADAFACE);
  try {
    const expected = await ds.readImages(ds.imageKeys);
    const got = shards.flatMap((s) => s.examples);
    assert.deepEqual(got.map((e) => e.label), expected.map((e) => e.label));
    got.forEach((e, i) => assert.ok(e.image.equals(expected[i]!.image), `image ${i} unchanged`));
  } finally {
    await ds.close();
  }
  const meta = JSON.parse(await readFile(path.join(stage!.outDir, 'dataset.json'), 'utf8')) as Record<string, any>;
  assert.equal(meta.images, 8);
  assert.equal(meta.classes, 2);
  assert.equal(meta.source.layout, 'plain');
  assert.equal(meta.source.digest, `sha256:${createHash('sha256').update(await readFile(ADAFACE)).digest('hex')}`, 'the input digest from the cache key');
  assert.deepEqual(meta.shards.map((s: { records: number }) => s.records), [2, 3, 3]);
});

test('a seeded shuffle is deterministic, independent of the worker count, and keeps every image once', async (t) => {
  const dir = await tempDir(t);
  await syntheticDataset(path.join(dir, 'ds'), 6, 5);
  const run = async (env: Record<string, string>) => {
    await writeFiles(dir, { 'p.yaml': 'stages:\n  convert:\n    uses: convert\n    with: {input: ds, shards: 4, shuffle: true, seed: 5}\n' });
    const r = await facepipe(['run', 'p.yaml', '--json', '--force', 'all'], { cwd: dir, env });
    assert.equal(r.exitCode, 0, r.all);
    const out = (JSON.parse(r.stdout) as { stages: Stage[] }).stages[0]!.outDir;
    return Promise.all((await readdir(out)).filter((f) => f.endsWith('.tfrecord')).sort().map(async (f) => createHash('sha256').update(await readFile(path.join(out, f))).digest('hex')));
  };
  const one = await run({ FACEPIPE_WORKERS: '1' });
  const two = await run({ FACEPIPE_WORKERS: '2' });
  assert.deepEqual(one, two);
  const plan = planShards([...Array(30).keys()].map((k) => k + 1), 4, { shuffle: true, seed: 5 });
  assert.deepEqual(plan.shards.flat().sort((a, b) => a - b), [...Array(30).keys()].map((k) => k + 1));
  assert.notDeepEqual(plan.shards.flat(), [...Array(30).keys()].map((k) => k + 1));
  assert.deepEqual(planShards([1, 2, 3, 4, 5], 2, { limit: 3 }).shards, [[1], [2, 3]]);
});

/** A plain .rec whose third record is `bad` (a payload or a broken header). */
async function recWith(dir: string, bad: 'not-image' | 'label' | 'magic'): Promise<string> {
  const rec = path.join(dir, 'bad.rec');
  const w = await RecordWriter.create(rec);
  const jpeg = await encodeJpeg(new Uint8Array(8 * 8 * 3).fill(99), 8, 8, 3);
  for (let k = 0; k < 5; k++) {
    const image = bad === 'not-image' && k === 2 ? Buffer.from('this is not a JPEG at all') : jpeg;
    await w.write(packIR({ label: bad === 'label' && k === 2 ? 7.5 : k % 2, id: k }, image), k);
  }
  await w.close();
  await writeFile(path.join(dir, 'property'), '2,8,8\n');
  if (bad === 'magic') {
    const b = await readFile(rec);
    const idx = (await readFile(path.join(dir, 'bad.idx'), 'utf8')).trim().split('\n').map((l) => Number(l.split('\t')[1]));
    b[idx[2]!] ^= 0xff;
    await writeFile(rec, b);
  }
  return rec;
}

for (const [bad, pattern, kind] of [
  ['not-image', /bad\.rec, record of key 2 at byte \d+: the payload is not an image/, 'image'],
  ['label', /label 7\.5|not an integer|class/i, 'record'],
  ['magic', /bad\.rec at byte \d+: .*magic/i, 'record'],
] as const) {
  test(`a corrupt record (${bad}) stops the stage with the file and place, or is skipped and counted`, async (t) => {
    const dir = await tempDir(t);
    await recWith(dir, bad);
    const strict = await convert(dir, 'input: bad.rec\nshards: 1', false);
    assert.match(strict.all, /FAILED/);
    assert.match(strict.all, pattern);
    const { stage } = await convert(dir, 'input: bad.rec\nshards: 1\nskip_corrupt: true');
    const meta = JSON.parse(await readFile(path.join(stage!.outDir, 'dataset.json'), 'utf8')) as { images: number; skipped: { count: number; byKind: object; first: { key: number }[] } };
    assert.equal(meta.images, 4);
    assert.equal(meta.skipped.count, 1);
    assert.deepEqual(meta.skipped.byKind, { [kind]: 1 });
    assert.equal(meta.skipped.first[0]!.key, 2);
    assert.equal((await readShards(stage!.outDir))[0]!.examples.length, 4);
  });
}

test('the source digest of an upstream output comes from its manifest, without re-reading it', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'p.yaml': 'stages:\n  faces:\n    uses: synth\n    with: {identities: 3, images_per_identity: 2, holdout_identities: 0}\n  convert:\n    uses: convert\n    with: {input: "${{ stages.faces.out }}", shards: 1}\n',
  });
  const r = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  const [faces, conv] = (JSON.parse(r.stdout) as { stages: Stage[] }).stages;
  const meta = JSON.parse(await readFile(path.join(conv!.outDir, 'dataset.json'), 'utf8')) as { source: { digest: string } };
  const expected = (await new Digester(StatCache.memory()).tree(faces!.outDir)).digest;
  assert.equal(meta.source.digest, expected);
});
