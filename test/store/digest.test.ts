import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Digester, treeDigest } from '../../src/store/digest.js';
import { StatCache } from '../../src/store/stat-cache.js';

async function tmp(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facepipe-digest-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const sha = (b: string | Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const digester = (): Digester => new Digester(StatCache.memory());

async function writeTree(root: string, files: Array<[string, string | Buffer]>): Promise<void> {
  for (const [rel, content] of files) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), content);
  }
}

test('file digests match sha256 of the content, across chunk boundaries and for empty files', async (t) => {
  const dir = await tmp(t);
  const big = randomBytes(9 * 1024 * 1024 + 123);
  await fs.writeFile(path.join(dir, 'big'), big);
  await fs.writeFile(path.join(dir, 'empty'), '');
  const d = digester();
  assert.equal(await d.file(path.join(dir, 'big')), sha(big));
  assert.equal(await d.file(path.join(dir, 'empty')), sha(''));
  assert.equal(d.stats.bytesHashed, big.length);
});

test('many small files (hashed on worker threads) get the same digests as one by one', async (t) => {
  const dir = await tmp(t);
  const contents = Array.from({ length: 300 }, (_, i) => randomBytes(i * 37));
  await writeTree(dir, contents.map((c, i) => [`d${i % 7}/f${i}`, c]));
  const d = digester();
  const tree = await d.tree(dir);
  assert.equal(tree.files.length, 300);
  assert.equal(d.stats.filesHashed, 300);
  for (const f of tree.files) {
    const i = Number(/f(\d+)$/.exec(f.path)?.[1]);
    assert.equal(f.digest, sha(contents[i] as Buffer), f.path);
    assert.equal(f.size, (contents[i] as Buffer).length);
  }
  const again = digester();
  assert.equal((await again.tree(dir)).digest, tree.digest);
});

test('a tree digest does not depend on the order files were created in', async (t) => {
  const dir = await tmp(t);
  const files: Array<[string, string]> = [['b.txt', 'B'], ['a/x.txt', 'X'], ['a/y/z.txt', 'Z'], ['c', '']];
  await writeTree(path.join(dir, 'one'), files);
  await writeTree(path.join(dir, 'two'), [...files].reverse());
  const d = digester();
  const one = await d.tree(path.join(dir, 'one'));
  const two = await d.tree(path.join(dir, 'two'));
  assert.equal(one.digest, two.digest);
  assert.deepEqual(one.files.map((f) => f.path), ['a/x.txt', 'a/y/z.txt', 'b.txt', 'c']);
  assert.deepEqual(one.files.map((f) => f.digest), two.files.map((f) => f.digest));
  assert.equal(one.digest, treeDigest(one.files), 'the documented definition');
});

test('a tree digest changes with content (same size) and with a rename, not with an empty dir', async (t) => {
  const dir = await tmp(t);
  const root = path.join(dir, 'data');
  await writeTree(root, [['a.txt', 'hello'], ['sub/b.txt', 'world']]);
  const d = digester();
  const base = (await d.tree(root)).digest;

  await fs.mkdir(path.join(root, 'empty-dir'));
  assert.equal((await d.tree(root)).digest, base, 'empty directories are not part of a tree');

  await fs.writeFile(path.join(root, 'a.txt'), 'HELLO');
  const edited = (await d.tree(root)).digest;
  assert.notEqual(edited, base);

  await fs.writeFile(path.join(root, 'a.txt'), 'hello');
  assert.equal((await d.tree(root)).digest, base, 'back to the same content: same digest');

  await fs.rename(path.join(root, 'sub/b.txt'), path.join(root, 'sub/c.txt'));
  assert.notEqual((await d.tree(root)).digest, base);
});

test('a single-file tree has the file\'s digest', async (t) => {
  const dir = await tmp(t);
  await fs.writeFile(path.join(dir, 'f.csv'), 'a,b\n');
  const r = await digester().tree(path.join(dir, 'f.csv'));
  assert.equal(r.digest, sha('a,b\n'));
  assert.deepEqual(r.files.map((f) => [f.path, f.size]), [['f.csv', 4]]);
});

test('symlinks inside the tree are followed; a linked root is fine', async (t) => {
  const dir = await tmp(t);
  await writeTree(path.join(dir, 'copies'), [['a', 'same'], ['b', 'same'], ['d/x', 'X'], ['e/x', 'X']]);
  await writeTree(path.join(dir, 'links'), [['a', 'same'], ['d/x', 'X']]);
  await fs.symlink('a', path.join(dir, 'links', 'b'));
  await fs.symlink('d', path.join(dir, 'links', 'e'));
  await fs.symlink(path.join(dir, 'links'), path.join(dir, 'root-link'));
  const d = digester();
  const copies = await d.tree(path.join(dir, 'copies'));
  assert.equal((await d.tree(path.join(dir, 'links'))).digest, copies.digest);
  assert.equal((await d.tree(path.join(dir, 'root-link'))).digest, copies.digest);
});

test('links out of the tree, dangling links and cycles are refused with the path', async (t) => {
  const dir = await tmp(t);
  await writeTree(dir, [['outside.txt', 'o'], ['escape/ok.txt', 'k'], ['dangling/ok.txt', 'k'], ['cycle/sub/ok.txt', 'k']]);
  await fs.symlink('../outside.txt', path.join(dir, 'escape', 'link'));
  await fs.symlink('nowhere', path.join(dir, 'dangling', 'link'));
  await fs.symlink('..', path.join(dir, 'cycle', 'sub', 'up'));
  const d = digester();
  await assert.rejects(d.tree(path.join(dir, 'escape')), /symlink .*escape\/link points outside/);
  await assert.rejects(d.tree(path.join(dir, 'dangling')), /broken symlink .*dangling\/link -> nowhere/);
  await assert.rejects(d.tree(path.join(dir, 'cycle')), /symlink cycle: .*cycle\/sub\/up/);
});

test('a file that keeps changing while it is hashed is reported, not cached', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, 'growing.log');
  await fs.writeFile(file, randomBytes(8 << 20));
  const fh = await fs.open(file, 'a');
  let writing = true;
  const writer = (async () => {
    while (writing) {
      await fh.write('more\n');
      await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    await assert.rejects(digester().file(file), /growing\.log kept changing while it was being hashed/);
  } finally {
    writing = false;
    await writer;
    await fh.close();
  }
});
