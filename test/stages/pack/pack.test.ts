import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { decodeImage, encodeJpeg } from '../../../src/formats/image.js';
import { imageInfo } from '../../../src/formats/jpeg-info.js';
import { openDataset } from '../../../src/formats/insightface.js';
import { readVerificationBin } from '../../../src/formats/verification-bin.js';
import { makePng } from '../../formats/image-samples.js';
import { facepipe, sharedData, tempDir, writeFiles } from '../../helpers.js';

interface Summary {
  stages: { status: string; outDir: string; metrics: Record<string, unknown> }[];
}

const ORL = path.join(sharedData, 'faces', 'att_faces');

async function pack(dir: string, withBlock: string): Promise<Summary['stages'][number]> {
  await writeFiles(dir, { 'p.yaml': `stages:\n  pack:\n    uses: pack\n    with:\n${withBlock.replace(/^/gm, '      ')}\n` });
  const r = await facepipe(['run', 'p.yaml', '--json', '--force', 'all'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  return (JSON.parse(r.stdout) as Summary).stages[0]!;
}

const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

test('ORL faces (40 people × 10 grey PGMs) pack into an insightface dataset and a balanced held-out .bin', async (t) => {
  const dir = await tempDir(t);
  const out = await pack(dir, `images: ${ORL}\nholdout_identities: 10\npairs: 200\nseed: 3`);
  assert.deepEqual(out.metrics, { images: 300, classes: 30, holdout_identities: 10, pairs: 200, ignored_files: 1 });
  const ds = await openDataset(out.outDir);
  try {
    assert.equal(ds.layout, 'insightface');
    assert.equal(ds.numClasses, 30);
    assert.equal(ds.imageKeys.length, 300);
    assert.deepEqual(ds.property, { numClasses: 30, height: 112, width: 112 });
    const first = await ds.readImage(1);
    assert.equal(first.label, 0);
    const info = imageInfo(first.image);
    assert.deepEqual([info.format, info.width, info.height, info.components, info.subsampling], ['jpeg', 112, 112, 3, '4:2:0']);
    assert.equal((await ds.readImage(300)).label, 29);
  } finally {
    await ds.close();
  }
  const bin = await readVerificationBin(path.join(out.outDir, 'holdout.bin'));
  assert.equal(bin.images.length, 400);
  assert.equal(bin.issame.filter(Boolean).length, 100);
  // LFW's layout: every tenth of the pairs is 10 same pairs followed by 10 different ones.
  assert.deepEqual(bin.issame.slice(0, 20), [...Array(10).fill(true), ...Array(10).fill(false)]);
  const meta = JSON.parse(await readFile(path.join(out.outDir, 'pack.json'), 'utf8')) as { holdout: string[]; classes: { name: string }[] };
  const listed = (await readFile(path.join(out.outDir, 'holdout.pairs.txt'), 'utf8')).trim().split('\n');
  assert.equal(listed.length, 200);
  for (const line of listed) {
    const [a, b, same] = line.split('\t');
    const [ia, ib] = [a!.split('/')[0]!, b!.split('/')[0]!];
    assert.ok(meta.holdout.includes(ia) && meta.holdout.includes(ib), 'pairs only use held-out people');
    assert.equal(same === '1', ia === ib);
  }
  assert.equal(meta.classes.some((c) => meta.holdout.includes(c.name)), false, 'held-out people are not trained on');
});

test('packing is deterministic for a seed, and another seed holds out other people', async (t) => {
  const [d1, d2, d3] = [await tempDir(t), await tempDir(t), await tempDir(t)];
  const w = (seed: number) => `images: ${ORL}\nholdout_identities: 5\npairs: 40\nseed: ${seed}`;
  const [a, b, c] = [await pack(d1, w(1)), await pack(d2, w(1)), await pack(d3, w(2))];
  for (const f of ['train.rec', 'train.idx', 'property', 'holdout.bin']) assert.equal(await sha(path.join(a.outDir, f)), await sha(path.join(b.outDir, f)), f);
  const holdout = async (o: { outDir: string }) => (JSON.parse(await readFile(path.join(o.outDir, 'pack.json'), 'utf8')) as { holdout: string[] }).holdout;
  assert.notDeepEqual(await holdout(a), await holdout(c));
});

test('JPEG, PNG, grey and colour, any size, become 112×112 RGB; a pairs list is honoured; junk is named', async (t) => {
  const dir = await tempDir(t);
  const img = async (w: number, h: number, ch: 1 | 3, v: number) => encodeJpeg(new Uint8Array(w * h * ch).fill(v), w, h, ch, { quality: 90 });
  await mkdir(path.join(dir, 'faces', 'alice'), { recursive: true });
  await mkdir(path.join(dir, 'faces', 'bob'), { recursive: true });
  await writeFile(path.join(dir, 'faces', 'alice', 'a1.jpg'), await img(200, 150, 3, 200));
  await writeFile(path.join(dir, 'faces', 'alice', 'a2.JPEG'), await img(60, 80, 1, 90));
  await writeFile(path.join(dir, 'faces', 'bob', 'b1.pgm'), Buffer.concat([Buffer.from('P5\n4 4\n255\n'), Buffer.alloc(16, 30)]));
  await writeFile(path.join(dir, 'faces', 'bob', 'b2.png'), makePng(8, 8, 2, 8, Buffer.alloc(8 * 8 * 3, 120))); // 8×8 RGB
  await writeFile(path.join(dir, 'faces', 'bob', 'notes.txt'), 'not an image');
  await writeFile(path.join(dir, 'pairs.txt'), 'alice/a1.jpg alice/a2.JPEG 1\nalice/a1.jpg bob/b1.pgm 0\n');
  const out = await pack(dir, 'images: faces\npairs_file: pairs.txt\nbin_name: mine\nbin_form: py2-str');
  assert.deepEqual(out.metrics, { images: 4, classes: 2, holdout_identities: 0, pairs: 2, ignored_files: 1 });
  const bin = await readVerificationBin(path.join(out.outDir, 'mine.bin'));
  assert.deepEqual(bin.issame, [true, false]);
  const grey = await decodeImage(bin.images[1]!);
  assert.deepEqual([grey.width, grey.height, grey.channels], [112, 112, 3]);
  assert.ok(Math.abs(grey.data[0]! - 90) <= 2, 'a grey image is replicated into RGB');

  await writeFile(path.join(dir, 'faces', 'bob', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.all, /FAILED: .*faces\/bob\/broken\.jpg.*: .*(truncated|corrupt)/);
});

test('asking for more pairs than the held-out people allow is a clear error', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': `stages:\n  pack:\n    uses: pack\n    with: {images: ${ORL}, holdout_identities: 2, pairs: 500}\n` });
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.all, /500 pairs need 250 distinct same-identity and 250 different-identity pairs, but the held-out identities allow only 90 and 100/);
});
