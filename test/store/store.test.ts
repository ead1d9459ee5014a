import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Digester } from '../../src/store/digest.js';
import { layout } from '../../src/store/layout.js';
import { StatCache, type StatCacheOptions } from '../../src/store/stat-cache.js';
import { Store, type Attempt, type ManifestMeta } from '../../src/store/store.js';

const KEY = 'c0ffee'.padEnd(64, '0');

async function setup(t: TestContext, cacheOpts: StatCacheOptions = {}): Promise<{ store: Store; digester: Digester; runs: string }> {
  const runs = await fs.mkdtemp(path.join(os.tmpdir(), 'facepipe-store-'));
  t.after(() => fs.rm(runs, { recursive: true, force: true }));
  const digester = new Digester(StatCache.memory(cacheOpts));
  return { store: new Store(layout(runs), digester), digester, runs };
}

function meta(key = KEY): ManifestMeta {
  return {
    key, stage: 'prepare', kind: 'lfw-pairs', components: { params: { n: 3 } },
    metrics: { pairs: 6000, loss: Number.NaN }, environment: { node: process.version },
    timings: { startedAt: '2024-01-01T00:00:00.000Z', finishedAt: '2024-01-01T00:00:01.000Z', seconds: 1 },
  };
}

async function produce(a: Attempt): Promise<void> {
  await fs.mkdir(path.join(a.outDir, 'shards'));
  await fs.writeFile(path.join(a.outDir, 'shards', 'train-0.bin'), Buffer.alloc(100_000, 7));
  await fs.writeFile(path.join(a.outDir, 'pairs.txt'), 'a b 1\n');
  await fs.symlink('shards/train-0.bin', path.join(a.outDir, 'latest.bin'));
  await fs.writeFile(a.logPath, 'log line\n');
}

async function committed(store: Store, key = KEY): Promise<void> {
  const a = await store.begin(key);
  await produce(a);
  await store.commit(a, meta(key));
}

test('begin, commit, lookup round trip; an untouched entry is verified without reading it', async (t) => {
  const { store, digester, runs } = await setup(t);
  const a = await store.begin(KEY);
  assert.ok(a.dir.startsWith(path.join(runs, '.facepipe', 'tmp', `${KEY}.`)));
  await produce(a);
  const m = await store.commit(a, meta());
  assert.deepEqual(m.files.map((f) => [f.path, f.size]), [['latest.bin', 100_000], ['pairs.txt', 6], ['shards/train-0.bin', 100_000]]);
  assert.equal(m.metrics.loss, null, 'NaN is stored (and checksummed) as null');
  await assert.rejects(fs.access(a.dir), 'the attempt directory became the entry');

  const entry = store.entryDir(KEY);
  assert.equal(entry, path.join(runs, '.facepipe', 'store', 'c0', KEY));
  assert.deepEqual((await fs.readdir(entry)).sort(), ['manifest.json', 'out', 'stage.log']);

  const before = digester.stats.bytesHashed;
  const found = await store.lookup(KEY);
  assert.equal(found.status, 'hit');
  assert.deepEqual(found.status === 'hit' && found.manifest, m);
  assert.equal(found.status === 'hit' && found.outDir, store.outDir(KEY));
  assert.equal(digester.stats.bytesHashed, before, 'lookup read no file');
  assert.deepEqual(await store.lookup('f'.repeat(64)), { status: 'miss' });
});

test('a tampered output (same size, new mtime) is corrupt and moved to the trash', async (t) => {
  const { store, runs } = await setup(t);
  await committed(store);
  await fs.writeFile(path.join(store.outDir(KEY), 'pairs.txt'), 'a b 0\n');
  const found = await store.lookup(KEY);
  assert.deepEqual(found, { status: 'corrupt', reason: 'out/pairs.txt was modified after the stage finished (content differs)' });
  await assert.rejects(fs.access(store.entryDir(KEY)));
  assert.equal((await fs.readdir(path.join(runs, '.facepipe', 'trash'))).length, 1);
  assert.deepEqual(await store.lookup(KEY), { status: 'miss' });
  assert.equal(await store.emptyTrash(60_000), 0, 'trashed moments ago: kept under a one-minute cutoff');
  assert.equal((await fs.readdir(path.join(runs, '.facepipe', 'trash'))).length, 1);
  assert.equal(await store.emptyTrash(), 1);
  assert.deepEqual(await fs.readdir(path.join(runs, '.facepipe', 'trash')), []);
});

test('a touched but unchanged output is still a hit, read once rather than on every lookup', async (t) => {
  const { store, digester } = await setup(t, { racyMs: 50 });
  await committed(store);
  const earlier = new Date(Date.now() - 10_000);
  await fs.utimes(path.join(store.outDir(KEY), 'pairs.txt'), earlier, earlier);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await store.lookup(KEY)).status, 'hit');
  assert.equal(digester.stats.filesHashed, 3 + 1);
  assert.equal((await store.lookup(KEY)).status, 'hit');
  assert.equal(digester.stats.filesHashed, 3 + 1, 'the stat cache vouches for it now');
});

test('missing, extra, resized files and a bad manifest make an entry corrupt', async (t) => {
  const cases: Array<[string, (entry: string) => Promise<void>, RegExp]> = [
    ['missing file', (e) => fs.rm(path.join(e, 'out', 'pairs.txt')), /^out\/pairs\.txt is missing$/],
    ['extra file', (e) => fs.writeFile(path.join(e, 'out', 'notes.md'), 'hi'), /^out\/notes\.md is not in the manifest/],
    ['resized file', (e) => fs.appendFile(path.join(e, 'out', 'pairs.txt'), 'x'), /^out\/pairs\.txt has 7 bytes, the manifest says 6$/],
    ['no manifest', (e) => fs.rm(path.join(e, 'manifest.json')), /manifest\.json is missing/],
    ['truncated manifest', (e) => fs.truncate(path.join(e, 'manifest.json'), 50), /manifest\.json is not valid JSON/],
    ['edited manifest', async (e) => {
      const file = path.join(e, 'manifest.json');
      await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('"pairs": 6000', '"pairs": 6001'));
    }, /checksum does not match/],
    ['no out/', (e) => fs.rm(path.join(e, 'out'), { recursive: true }), /^out\/ is missing$/],
  ];
  for (const [name, damage, reason] of cases) {
    const { store } = await setup(t);
    await committed(store);
    await damage(store.entryDir(KEY));
    const found = await store.lookup(KEY);
    assert.equal(found.status, 'corrupt', name);
    assert.match(found.status === 'corrupt' ? found.reason : '', reason, name);
    assert.deepEqual(await store.lookup(KEY), { status: 'miss' }, `${name}: moved to the trash`);
  }
});

test('commit over an existing entry moves the old one to the trash', async (t) => {
  const { store, runs } = await setup(t);
  await committed(store);
  const a = await store.begin(KEY);
  await fs.writeFile(path.join(a.outDir, 'only.txt'), 'new');
  await store.commit(a, meta());
  const found = await store.lookup(KEY);
  assert.deepEqual(found.status === 'hit' && found.manifest.files.map((f) => f.path), ['only.txt']);
  assert.equal((await fs.readdir(path.join(runs, '.facepipe', 'trash'))).length, 1);
});

test('begin removes leftovers of earlier attempts at the same key only; abandon removes the attempt', async (t) => {
  const { store, runs } = await setup(t);
  const other = 'e'.repeat(64);
  const crashed = await store.begin(KEY);
  await fs.writeFile(path.join(crashed.outDir, 'partial.bin'), 'half');
  const unrelated = await store.begin(other);
  const fresh = await store.begin(KEY);
  const tmp = path.join(runs, '.facepipe', 'tmp');
  assert.deepEqual((await fs.readdir(tmp)).sort(), [path.basename(fresh.dir), path.basename(unrelated.dir)].sort());
  await store.abandon(fresh);
  await store.abandon(unrelated);
  assert.deepEqual(await fs.readdir(tmp), []);
});

test('absolute symlinks in outputs are refused (they would dangle in the store)', async (t) => {
  const { store } = await setup(t);
  const a = await store.begin(KEY);
  await fs.writeFile(path.join(a.outDir, 'x'), 'x');
  await fs.symlink(path.join(a.outDir, 'x'), path.join(a.outDir, 'abs'));
  await assert.rejects(store.commit(a, meta()), /abs is an absolute symlink .*Use a relative link or copy the file/);
  assert.deepEqual(await store.lookup(KEY), { status: 'miss' });
});

test('the work directory survives until removed', async (t) => {
  const { store } = await setup(t);
  const w = await store.workDir(KEY);
  await fs.writeFile(path.join(w, 'ckpt'), '1');
  assert.equal(await store.workDir(KEY), w);
  assert.equal(await fs.readFile(path.join(w, 'ckpt'), 'utf8'), '1');
  await store.removeWork(KEY);
  await assert.rejects(fs.access(w));
  await store.removeWork(KEY);
});

test('keys that are not sha256 hex are refused', async (t) => {
  const { store } = await setup(t);
  await assert.rejects(store.begin('../etc'), /invalid stage key "\.\.\/etc"/);
  assert.throws(() => store.entryDir('ABC'), /expected 64 lowercase hex/);
});
