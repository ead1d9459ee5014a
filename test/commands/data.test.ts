// The data stages as plain commands, and `inspect` on every format.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { facepipe, sharedData, tempDir } from '../helpers.js';

const ADAFACE = path.join(sharedData, 'rec', 'adaface_popkorn', 'data_train.rec');

test('facepipe convert writes shards into --out, which inspect reads back with a passing integrity check', async (t) => {
  const dir = await tempDir(t);
  const r = await facepipe(['convert', '--rec', ADAFACE, '--out', 'tf', '--shards', '2'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /convert: done → tf\n +images=8 +classes=2 +shards=2/);
  assert.deepEqual((await readdir(path.join(dir, 'tf'))).sort(), ['dataset.json', 'train-00000-of-00002.tfrecord', 'train-00001-of-00002.tfrecord']);
  const i = await facepipe(['inspect', 'tf/train-00000-of-00002.tfrecord', '--json'], { cwd: dir });
  assert.equal(i.exitCode, 0, i.all);
  const rep = JSON.parse(i.stdout) as { facts: Record<string, unknown>; integrity: { ok: boolean; checked: number } };
  assert.equal(rep.facts.records, 4);
  assert.equal(rep.facts.features, 'image_raw:bytes, label:int64');
  assert.deepEqual([rep.integrity.ok, rep.integrity.checked], [true, 4]);
  const again = await facepipe(['convert', '--rec', ADAFACE, '--out', 'tf'], { cwd: dir });
  assert.equal(again.exitCode, 2);
  assert.match(again.stderr, /--out tf exists and is not empty/);
});

test('inspect finds a flipped byte in a TFRecord and a .rec, and says where', async (t) => {
  const dir = await tempDir(t);
  await facepipe(['convert', '--rec', ADAFACE, '--out', 'tf', '--shards', '1'], { cwd: dir });
  const shard = path.join(dir, 'tf', 'train-00000-of-00001.tfrecord');
  const b = await readFile(shard);
  b[b.length - 100] ^= 0x40;
  await writeFile(shard, b);
  const r = await facepipe(['inspect', shard], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.stdout, /integrity: FAILED after 7 records: .*train-00000-of-00001\.tfrecord at byte \d+: .*(CRC|crc)/);
  const rec = await readFile(ADAFACE);
  rec.writeUInt32LE(0xdeadbeef, 5500); // the magic of the record of key 4
  await writeFile(path.join(dir, 'bad.rec'), rec);
  await writeFile(path.join(dir, 'bad.idx'), await readFile(ADAFACE.replace(/\.rec$/, '.idx')));
  const rr = await facepipe(['inspect', 'bad.rec'], { cwd: dir });
  assert.equal(rr.exitCode, 1);
  assert.match(rr.stdout, /integrity: FAILED after 0 records: .*bad\.rec at byte 5500: bad magic word 0xdeadbeef/);
});

test('facepipe pack builds a dataset and a .bin from ORL; inspect reads both', async (t) => {
  const dir = await tempDir(t);
  const r = await facepipe(['pack', '--images', path.join(sharedData, 'faces', 'att_faces'), '--out', 'orl', '--holdout', '4', '--pairs', '40', '--seed', '2'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /images=360 +classes=36 +holdout_identities=4 +pairs=40/);
  const bin = await facepipe(['inspect', 'orl/holdout.bin', '--json'], { cwd: dir });
  assert.deepEqual((JSON.parse(bin.stdout) as { facts: object }).facts, { pairs: 40, same: 20, different: 20, images: 80, sizes: '112×112: 80' });
  const rec = await facepipe(['inspect', 'orl/train.rec'], { cwd: dir });
  assert.equal(rec.exitCode, 0, rec.all);
  assert.match(rec.stdout, /layout: insightface\n +images: 360\n +classes: 36\n +property: 36,112,112/);
  assert.match(rec.stdout, /integrity: OK \(360 records checked/);
});

test('bad command-line values are named by their flag, and a failed run leaves no --out', async (t) => {
  const dir = await tempDir(t);
  const r = await facepipe(['pack', '--images', path.join(sharedData, 'faces', 'att_faces'), '--out', 'x', '--size', '8'], { cwd: dir });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /--size: must be >= 16/);
  const f = await facepipe(['pack', '--images', path.join(sharedData, 'faces', 'att_faces'), '--out', 'x', '--holdout', '40'], { cwd: dir });
  assert.equal(f.exitCode, 1);
  assert.match(f.stderr, /holdout_identities is 40, but the folder has only 40 identities/);
  assert.equal(existsSync(path.join(dir, 'x')), false);
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('x')), [], 'no temporary folder is left either');
});

test('facepipe synth renders the embedded dataset as a real insightface folder', async (t) => {
  const dir = await tempDir(t);
  const r = await facepipe(['synth', '--out', 'faces', '--identities', '5', '--images-per-identity', '3', '--holdout', '3', '--pairs', '10', '--difficulty', '0.3'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /images=15 +classes=5 +holdout_identities=3 +pairs=10/);
  const rec = await facepipe(['inspect', 'faces/train.rec', '--json'], { cwd: dir });
  const rep = JSON.parse(rec.stdout) as { facts: Record<string, unknown>; integrity: { ok: boolean } };
  assert.deepEqual([rep.facts.layout, rep.facts.images, rep.facts.classes, rep.integrity.ok], ['insightface', 15, 5, true]);
  const bad = await facepipe(['synth', '--out', 'x', '--difficulty', 'extreme'], { cwd: dir });
  assert.equal(bad.exitCode, 2);
  assert.match(bad.stderr, /--difficulty/);
});
