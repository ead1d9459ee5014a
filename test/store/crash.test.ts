// kill -9 at any point of a commit must leave either no entry or a complete one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Digester } from '../../src/store/digest.js';
import { layout } from '../../src/store/layout.js';
import { StatCache } from '../../src/store/stat-cache.js';
import { Store, type CommitStep } from '../../src/store/store.js';

const KEY = 'dead'.repeat(16);
const mod = (p: string): string => JSON.stringify(new URL(`../../src/store/${p}`, import.meta.url).href);

/** Output i of a child: `size` bytes of value i+1, so the parent knows what a complete file holds. */
const expectedDigest = (i: number, size: number): string =>
  `sha256:${createHash('sha256').update(Buffer.alloc(size, i + 1)).digest('hex')}`;

/**
 * A child that writes `files` outputs of `size` bytes, prints `committing`, commits, prints
 * `committed <ms>`. With `killAt`, it SIGKILLs itself right after that commit step.
 */
function committer(runs: string, files: number, size: number, killAt?: CommitStep): { lines: string[]; committing: Promise<void>; exit: Promise<NodeJS.Signals | number | null>; kill(): void } {
  const code = `
import fs from 'node:fs/promises';
import path from 'node:path';
import { Store } from ${mod('store.js')};
import { Digester } from ${mod('digest.js')};
import { StatCache } from ${mod('stat-cache.js')};
import { layout } from ${mod('layout.js')};
const killAt = ${JSON.stringify(killAt ?? null)};
const store = new Store(layout(${JSON.stringify(runs)}), new Digester(StatCache.memory()),
  { onCommitStep: (s) => { if (s === killAt) process.kill(process.pid, 'SIGKILL'); } });
const a = await store.begin(${JSON.stringify(KEY)});
await fs.mkdir(path.join(a.outDir, 'sub'));
for (let i = 0; i < ${files}; i++) await fs.writeFile(path.join(a.outDir, 'sub', 'f' + i), Buffer.alloc(${size}, i + 1));
await fs.writeFile(a.logPath, 'log\\n');
console.log('committing');
const t0 = performance.now();
await store.commit(a, { key: ${JSON.stringify(KEY)}, stage: 's', kind: 'k', components: {}, metrics: {}, environment: {},
  timings: { startedAt: '', finishedAt: '', seconds: 0 } });
console.log('committed ' + (performance.now() - t0));`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let onCommitting: () => void = () => undefined;
  const committing = new Promise<void>((r) => { onCommitting = r; });
  proc.stdout.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n').filter(Boolean)) {
      lines.push(l);
      if (l === 'committing') onCommitting();
    }
  });
  const exit = new Promise<NodeJS.Signals | number | null>((r) => proc.on('exit', (c, s) => r(s ?? c)));
  return { lines, committing, exit, kill: () => proc.kill('SIGKILL') };
}

/** Looks the key up; a hit must hold exactly the complete outputs, read back in full. */
async function outcome(runs: string, files: number, size: number): Promise<'hit' | 'miss'> {
  const store = new Store(layout(runs), new Digester(StatCache.memory()));
  const found = await store.lookup(KEY);
  assert.notEqual(found.status, 'corrupt', found.status === 'corrupt' ? `a crash left a partial entry: ${found.reason}` : '');
  if (found.status === 'miss') return 'miss';
  assert.equal(found.status, 'hit');
  const expected = Array.from({ length: files }, (_, i) => [`sub/f${i}`, size, expectedDigest(i, size)]);
  assert.deepEqual(found.manifest.files.map((f) => [f.path, f.size, f.digest]), expected);
  const reread = await new Digester(StatCache.memory(), { rehash: true }).tree(found.outDir);
  assert.deepEqual(reread.files.map((f) => [f.path, f.size, f.digest]), expected, 'outputs read back in full');
  return 'hit';
}

async function tmp(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facepipe-crash-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

test('kill -9 right after each commit step: no entry until the rename, a complete one after', async (t) => {
  const steps: Array<[CommitStep, 'hit' | 'miss']> = [['hashed', 'miss'], ['synced', 'miss'], ['manifest-written', 'miss'], ['renamed', 'hit']];
  for (const [step, want] of steps) {
    const runs = await tmp(t);
    const c = committer(runs, 3, 300_000, step);
    assert.equal(await c.exit, 'SIGKILL', `killed at ${step}: ${c.lines.join(' | ')}`);
    assert.equal(await outcome(runs, 3, 300_000), want, `killed after '${step}'`);
  }
});

test('kill -9 at random instants of a large commit never leaves a partial entry', async (t) => {
  const files = 4;
  const size = 24 << 20;
  const runs = await tmp(t);
  // Calibrate: how long does an uninterrupted commit of this size take here?
  const calib = committer(runs, files, size);
  assert.equal(await calib.exit, 0);
  const ms = Number(calib.lines.find((l) => l.startsWith('committed '))?.split(' ')[1]);
  assert.equal(await outcome(runs, files, size), 'hit');

  const seen: Record<'hit' | 'miss', number> = { hit: 0, miss: 0 };
  const rounds = 16;
  for (let i = 0; i < rounds; i++) {
    await fs.rm(new Store(layout(runs), new Digester(StatCache.memory())).entryDir(KEY), { recursive: true, force: true });
    const c = committer(runs, files, size);
    await c.committing;
    // Spread kill instants over the whole commit, plus a little beyond it.
    await new Promise((r) => setTimeout(r, (ms * 1.5 * i) / (rounds - 1)));
    c.kill();
    await c.exit;
    const o = await outcome(runs, files, size);
    seen[o]++;
    t.diagnostic(`kill after ${((ms * 1.5 * i) / (rounds - 1)).toFixed(0)} ms: ${o}`);
  }
  t.diagnostic(`commit of ${files}x${size >> 20} MB takes ${ms.toFixed(0)} ms; outcomes: ${JSON.stringify(seen)}`);
  assert.ok(seen.miss > 0, 'some kills landed before the rename');

  // The next attempt cleans up whatever the killed ones left in tmp/.
  const store = new Store(layout(runs), new Digester(StatCache.memory()));
  const a = await store.begin(KEY);
  assert.deepEqual(await fs.readdir(path.dirname(a.dir)), [path.basename(a.dir)]);
  await store.abandon(a);
});
