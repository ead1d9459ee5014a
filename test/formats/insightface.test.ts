// The insightface dataset layout: the real plain im2rec file, a synthetic insightface dataset
// written by writeInsightface and read back exactly, and the validation errors.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { FormatError } from '../../src/formats/errors.js';
import { checkImage, labelFits, openDataset, writeInsightface, type FaceImage, type LabeledImage } from '../../src/formats/insightface.js';
import { packIR, unpackIR } from '../../src/formats/irheader.js';
import { MAGIC_BYTES, readRecords } from '../../src/formats/recordio.js';
import { RecordWriter } from '../../src/formats/recordio-writer.js';
import { sharedData, tempDir } from '../helpers.js';

const popkorn = path.join(sharedData, 'rec', 'adaface_popkorn');

async function all(images: AsyncIterable<FaceImage>): Promise<FaceImage[]> {
  const out = [];
  for await (const x of images) out.push(x);
  return out;
}

async function rejectsAt(f: () => Promise<unknown>, file: string, offset: number | undefined, match: RegExp): Promise<void> {
  await assert.rejects(f, (e: unknown) => {
    assert.ok(e instanceof FormatError, `not a FormatError: ${e}`);
    assert.equal(e.file, file);
    assert.equal(e.offset, offset);
    assert.match(e.message, match);
    return true;
  });
}

/** Real JPEGs from the im2rec file, as (image, label) items sorted by class, plus one with an aligned magic word. */
async function items(): Promise<LabeledImage[]> {
  const jpegs: Buffer[] = [];
  for await (const { record } of readRecords(path.join(popkorn, 'data_train.rec'))) jpegs.push(unpackIR(record).image);
  const tricky = Buffer.concat([Buffer.from([0xff, 0xd8, 0, 0]), MAGIC_BYTES, Buffer.from([0xff, 0xd9])]);
  const labels = [0, 0, 0, 1, 2, 2, 2, 2, 3];
  return labels.map((label, i) => ({ label, image: i === 3 ? tricky : jpegs[i % jpegs.length]! }));
}

test('the real im2rec file opens as a plain dataset whose labels match the .lst', async () => {
  const lst = (await readFile(path.join(popkorn, 'data_train.lst'), 'utf8')).trim().split('\n').map((l) => l.split('\t'));
  const ds = await openDataset(path.join(popkorn, 'data_train.rec'));
  assert.equal(ds.layout, 'plain');
  assert.deepEqual(ds.imageKeys, [0, 4, 7, 5, 1, 6, 3, 2]);
  assert.equal(ds.numClasses, 2);
  assert.equal(ds.identities, undefined);
  assert.equal(ds.property, undefined);
  const inOrder = await all(ds.images());
  assert.deepEqual(inOrder.map((x) => x.key), ds.imageKeys);
  for (const [key, label] of lst.map(([k, l]) => [Number(k), Number(l)] as const)) {
    const x = await ds.readImage(key);
    assert.equal(x.label, label);
    assert.deepEqual([...x.image.subarray(0, 2)], [0xff, 0xd8]);
    assert.ok(x.image.equals(inOrder.find((y) => y.key === key)!.image));
  }
  await ds.close();
});

test('an insightface dataset written by writeInsightface reads back exactly', async (t) => {
  const dir = await tempDir(t);
  const input = await items();
  assert.deepEqual(await writeInsightface(dir, input), { numImages: 9, numClasses: 4 });
  assert.deepEqual((await readdir(dir)).sort(), ['property', 'train.idx', 'train.rec']);
  assert.equal(await readFile(path.join(dir, 'property'), 'utf8'), '4,112,112\n');
  const idx = (await readFile(path.join(dir, 'train.idx'), 'utf8')).trim().split('\n').map((l) => Number(l.split('\t')[0]));
  assert.deepEqual(idx, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0], 'images, identities, then the meta record last');

  const ds = await openDataset(dir);
  assert.equal(ds.layout, 'insightface');
  assert.deepEqual(ds.imageKeys, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(ds.numClasses, 4);
  assert.deepEqual(ds.identities, [[1, 4], [4, 5], [5, 9], [9, 10]]);
  assert.deepEqual(ds.property, { numClasses: 4, height: 112, width: 112 });
  const streamed = await all(ds.images());
  assert.equal(streamed.length, 9);
  for (const [i, want] of input.entries()) {
    const got = await ds.readImage(i + 1);
    assert.equal(got.label, want.label);
    assert.ok(got.image.equals(want.image), `image ${i + 1}`);
    assert.equal(Number(got.header.id), i + 1);
    assert.equal(streamed[i]!.key, i + 1);
    assert.ok(streamed[i]!.image.equals(want.image));
  }
  const batch = await ds.readImages([9, 1, 4]);
  assert.deepEqual(batch.map((x) => x.label), [3, 0, 1]);
  await assert.rejects(ds.readImage(0), /key 0 is not an image .*images are keys 1\.\.9/);
  await ds.close();
});

test('writeInsightface rejects unsorted classes or gaps and leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const image = Buffer.from([0xff, 0xd8]);
  await assert.rejects(writeInsightface(dir, [{ image, label: 0 }, { image, label: 2 }]), /item 1: class 2 after class 0 — items must be sorted by class/);
  await assert.rejects(writeInsightface(dir, [{ image, label: 1 }]), /item 0: class 1 after class -1/);
  await assert.rejects(writeInsightface(dir, []), /no images to write/);
  assert.deepEqual(await readdir(dir), []);
});

/** Hand-built insightface files: image labels, identity ranges and meta record as given. */
async function build(dir: string, labels: number[], identities: Array<[number, number]>, meta?: [number, number]): Promise<Map<number, number>> {
  const w = await RecordWriter.create(path.join(dir, 'train.rec'), { idxPath: path.join(dir, 'train.idx') });
  const offsets = new Map<number, number>();
  for (const [i, label] of labels.entries()) offsets.set(i + 1, await w.write(packIR({ label, id: i + 1 }, Buffer.from([0xff, 0xd8])), i + 1));
  const n = labels.length;
  for (const [c, range] of identities.entries()) offsets.set(n + 1 + c, await w.write(packIR({ label: range }), n + 1 + c));
  offsets.set(0, await w.write(packIR({ label: meta ?? [n + 1, n + 1 + identities.length] }), 0));
  await w.close();
  return offsets;
}

test('labels outside [0, K) or outside their identity range are errors naming key and offset', async (t) => {
  const dir = await tempDir(t);
  const rec = path.join(dir, 'train.rec');
  const offsets = await build(dir, [0, 0, 5, 0, 0.5], [[1, 3], [3, 6]]);
  const ds = await openDataset(dir);
  await rejectsAt(() => ds.readImage(3), rec, offsets.get(3), /record key 3: label 5 is outside \[0, 2\)/);
  await rejectsAt(() => ds.readImage(4), rec, offsets.get(4), /record key 4: label 0, but identity 0 holds image keys \[1, 3\)/);
  await rejectsAt(() => ds.readImage(5), rec, offsets.get(5), /record key 5: label 0\.5 is not a class id/);
  await rejectsAt(() => all(ds.images()), rec, offsets.get(3), /record key 3: label 5/);
  assert.equal((await ds.readImage(2)).label, 0);
  await ds.close();
});

test('labelFits agrees with checkImage without allocating; the rules and offsets go to other threads as data', async (t) => {
  const dir = await tempDir(t);
  const offsets = await build(dir, [0, 0, 5, 0, 0.5, 1], [[1, 3], [3, 7]]);
  const ds = await openDataset(dir);
  assert.deepEqual(ds.rules, { file: path.join(dir, 'train.rec'), numClasses: 2, identities: [[1, 3], [3, 7]] });
  const rules = structuredClone(ds.rules);
  for (const key of [1, 2, 3, 4, 5, 6]) {
    for (const label of [0, 1, 2, -1, 0.5, NaN]) {
      const record = Buffer.concat(packIR({ label, id: key }, Buffer.from([0xff, 0xd8])));
      const thrown = (() => {
        try {
          checkImage(rules, key, 0, record);
          return false;
        } catch {
          return true;
        }
      })();
      assert.equal(labelFits(rules, key, label), !thrown, `key ${key} label ${label}`);
    }
  }
  assert.equal(labelFits({ file: 'x', numClasses: 3 }, 99, 2), true, 'no identities: any key');
  const [at, end] = [new Float64Array(2), new Float64Array(2)];
  ds.locate([6, 2], at, end);
  assert.deepEqual([...at], [offsets.get(6), offsets.get(2)]);
  assert.deepEqual([...end], [offsets.get(7), offsets.get(3)]);
  await ds.close();
});

test('inconsistent identity records, missing keys and a wrong property are errors at open', async (t) => {
  const gap = await tempDir(t);
  const gapOffsets = await build(gap, [0, 0, 1], [[1, 3], [2, 4]]);
  await rejectsAt(() => openDataset(gap), path.join(gap, 'train.rec'), gapOffsets.get(5), /identity record key 5 \(class 1\): expected label \[3, end ≤ 4\).*got flag 2 label \[2, 4\]/);

  const short = await tempDir(t);
  const shortOffsets = await build(short, [0, 0, 1], [[1, 3]], [4, 6]);
  await rejectsAt(() => openDataset(short), path.join(short, 'train.idx'), undefined, /key 5 is missing: the meta record \(key 0\) promises images 1\.\.3 and identities 4\.\.5/);
  assert.ok(shortOffsets.has(4));

  const uncovered = await tempDir(t);
  const uncoveredOffsets = await build(uncovered, [0, 0, 1], [[1, 3], [3, 3]]);
  await rejectsAt(() => openDataset(uncovered), path.join(uncovered, 'train.rec'), uncoveredOffsets.get(5), /identity records end at image key 3, but there are images up to key 3/);

  const badMeta = await tempDir(t);
  const badMetaOffsets = await build(badMeta, [0], [[1, 2]], [2.5, 3]);
  await rejectsAt(() => openDataset(badMeta), path.join(badMeta, 'train.rec'), badMetaOffsets.get(0), /meta record key 0: label \[2\.5, 3\]/);

  const prop = await tempDir(t);
  await build(prop, [0, 1], [[1, 2], [2, 3]]);
  await writeFile(path.join(prop, 'property'), '3,112,112');
  await rejectsAt(() => openDataset(prop), path.join(prop, 'property'), 0, /says 3 classes but .* has 2/);
  await writeFile(path.join(prop, 'property'), '2;112;112');
  await rejectsAt(() => openDataset(prop), path.join(prop, 'property'), 0, /expected "classes,height,width"/);

  const empty = await tempDir(t);
  await rejectsAt(() => openDataset(empty), path.join(empty, 'train.rec'), undefined, /missing train\.rec/);
});

test('images() checks that the .idx belongs to the .rec', async (t) => {
  const dir = await tempDir(t);
  const rec = path.join(dir, 'plain.rec');
  const w = await RecordWriter.create(rec);
  const offsets = [];
  for (const [key, label] of [[0, 1], [1, 0], [2, 1]]) offsets.push(await w.write(packIR({ label, id: key }, Buffer.alloc(40, key!)), key));
  await w.close();
  const idx = path.join(dir, 'plain.idx');
  const ok = await openDataset(rec);
  assert.equal(ok.numClasses, 2, 'counted from the labels');
  assert.deepEqual((await all(ok.images())).map((x) => [x.key, x.label]), [[0, 1], [1, 0], [2, 1]]);
  await ok.close();

  await writeFile(idx, `0\t${offsets[0]}\n2\t${offsets[2]}\n`);
  const unlisted = await openDataset(rec);
  await rejectsAt(() => all(unlisted.images()), rec, offsets[1], /a record starts here that the \.idx does not list/);
  await unlisted.close();

  await writeFile(idx, `0\t${offsets[0]}\n1\t${offsets[0]! + 16}\n2\t${offsets[2]}\n`);
  const inside = await openDataset(rec);
  await rejectsAt(() => all(inside.images()), rec, offsets[1], new RegExp(`past the offset ${offsets[0]! + 16} that the \\.idx gives for key 1`));
  await rejectsAt(() => inside.readImage(1), rec, offsets[0]! + 16, /bad magic word/);
  await inside.close();

  await writeFile(idx, `0\t${offsets[0]}\n1\t${offsets[1]}\n2\t${offsets[2]}\n3\t${offsets[2]! + 8}\n`);
  const beyond = await openDataset(rec);
  await rejectsAt(() => all(beyond.images()), idx, undefined, new RegExp(`gives byte ${offsets[2]! + 8} for key 3, but no record starts there`));
  await beyond.close();
});
