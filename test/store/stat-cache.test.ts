import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Digester } from '../../src/store/digest.js';
import { StatCache } from '../../src/store/stat-cache.js';

async function tmp(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facepipe-statcache-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A file old enough (for racyMs 50) that its cache entry is trusted. */
async function agedFile(file: string, content: string): Promise<void> {
  await fs.writeFile(file, content);
  await sleep(120);
}

test('an unchanged file is read once, then served from the cache, also after save + load', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'a.bin');
  await agedFile(file, 'hello world');
  const cacheFile = path.join(dir, 'cache.json');
  const cache = await StatCache.load(cacheFile, { racyMs: 50 });
  const d1 = new Digester(cache);
  const first = await d1.file(file);
  assert.equal(d1.stats.bytesHashed, 11);
  assert.equal(await d1.file(file), first);
  assert.deepEqual(d1.stats, { filesHashed: 1, bytesHashed: 11, cacheHits: 1 });
  await cache.save();

  const d2 = new Digester(await StatCache.load(cacheFile, { racyMs: 50 }));
  assert.equal(await d2.file(file), first);
  assert.equal(d2.stats.bytesHashed, 0);
  assert.equal(d2.stats.cacheHits, 1);
});

test('a touched or modified file is hashed again', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'a.txt');
  await agedFile(file, 'aaaa');
  const d = new Digester(StatCache.memory({ racyMs: 50 }));
  const before = await d.file(file);

  const later = new Date(Date.now() + 5000);
  await fs.utimes(file, later, later);
  assert.equal(await d.file(file), before, 'same content, new mtime: same digest');
  assert.equal(d.stats.filesHashed, 2, 'but it was read again');

  await fs.writeFile(file, 'bbbb');
  const after = await d.file(file);
  assert.notEqual(after, before);
  assert.equal(d.stats.filesHashed, 3);
});

test('a racy entry (file changed within racyMs of hashing) is not trusted', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'fresh.txt');
  await fs.writeFile(file, 'just written');
  const cache = StatCache.memory({ racyMs: 400 });
  const d = new Digester(cache);
  await d.file(file);
  await d.file(file);
  assert.equal(d.stats.filesHashed, 2, 'hashed right after being written: the entry is racy');
  await sleep(500);
  await d.file(file);
  assert.equal(d.stats.filesHashed, 3, 'the racy entry is refreshed once the file is old enough...');
  await d.file(file);
  assert.equal(d.stats.filesHashed, 3, '...and trusted from then on');
  assert.equal(d.stats.cacheHits, 1);
});

test('rehash ignores the cache and refreshes it', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'a.txt');
  await agedFile(file, 'real content');
  const st = await fs.stat(file, { bigint: true });
  const cacheFile = path.join(dir, 'cache.json');
  // A cache entry whose stat matches but whose digest is wrong (say, from a buggy older version).
  const bogus = `sha256:${'0'.repeat(64)}`;
  const entry = { size: Number(st.size), mtimeNs: `${st.mtimeNs}`, ctimeNs: `${st.ctimeNs}`, ino: Number(st.ino), digest: bogus, hashedAtNs: `${st.ctimeNs + 10_000_000_000n}` };
  await fs.writeFile(cacheFile, JSON.stringify({ format: 1, entries: { [file]: entry } }));

  const trusting = new Digester(await StatCache.load(cacheFile, { racyMs: 50 }));
  assert.equal(await trusting.file(file), bogus, 'the cache is trusted without reading');

  const cache = await StatCache.load(cacheFile, { racyMs: 50 });
  const rehashing = new Digester(cache, { rehash: true });
  const real = await rehashing.file(file);
  assert.notEqual(real, bogus);
  assert.equal(rehashing.stats.cacheHits, 0);
  await cache.save();

  const again = new Digester(await StatCache.load(cacheFile, { racyMs: 50 }));
  await sleep(60);
  assert.equal(await again.file(file), real, 'the refreshed entry replaced the bogus one');
  assert.equal(again.stats.cacheHits, 1);
});

test('an unparsable cache file is a warning and an empty cache, then rewritten', async (t) => {
  const dir = await tmp(t);
  const cacheFile = path.join(dir, 'cache.json');
  await fs.writeFile(cacheFile, '{"format": 1, "entries": {"/x": {"size"'); // cut off mid-write
  const warnings: string[] = [];
  const cache = await StatCache.load(cacheFile, { racyMs: 50, warn: (m) => warnings.push(m) });
  assert.equal(cache.size, 0);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /cache\.json is unreadable/);

  const file = path.join(dir, 'a.txt');
  await agedFile(file, 'x');
  await new Digester(cache).file(file);
  await cache.save();
  const reloaded = await StatCache.load(cacheFile, { warn: (m) => warnings.push(m) });
  assert.equal(reloaded.size, 1);
  assert.equal(warnings.length, 1);
});

test('entries of files that disappeared from a walked directory are dropped on save', async (t) => {
  const dir = await tmp(t);
  const data = path.join(dir, 'data');
  await fs.mkdir(data);
  await fs.writeFile(path.join(data, 'keep.txt'), 'keep');
  await fs.writeFile(path.join(data, 'gone.txt'), 'gone');
  const cacheFile = path.join(dir, 'cache.json');
  const cache = await StatCache.load(cacheFile);
  await new Digester(cache).tree(data);
  await cache.save();
  assert.equal((await StatCache.load(cacheFile)).size, 2);

  await fs.rm(path.join(data, 'gone.txt'));
  const cache2 = await StatCache.load(cacheFile);
  await new Digester(cache2).tree(data);
  await cache2.save();
  const saved = JSON.parse(await fs.readFile(cacheFile, 'utf8')) as { entries: Record<string, unknown> };
  assert.deepEqual(Object.keys(saved.entries), [await fs.realpath(path.join(data, 'keep.txt'))]);
});

test('two runners saving the same cache keep each other\'s entries', async (t) => {
  const dir = await tmp(t);
  const cacheFile = path.join(dir, 'cache.json');
  await fs.writeFile(path.join(dir, 'a'), 'a');
  await fs.writeFile(path.join(dir, 'b'), 'b');
  const c1 = await StatCache.load(cacheFile);
  const c2 = await StatCache.load(cacheFile);
  await new Digester(c1).file(path.join(dir, 'a'));
  await new Digester(c2).file(path.join(dir, 'b'));
  await c1.save();
  await c2.save();
  assert.equal((await StatCache.load(cacheFile)).size, 2);
  const leftovers = (await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'));
  assert.deepEqual(leftovers, []);
});

test('a missing input names the path', async (t) => {
  const dir = await tmp(t);
  const d = new Digester(StatCache.memory());
  const missing = path.join(dir, 'nope.bin');
  await assert.rejects(d.file(missing), { message: `input file not found: ${missing}` });
  await assert.rejects(d.tree(missing), { message: `input file not found: ${missing}` });
});
