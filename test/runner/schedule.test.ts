// Scheduling: independent stages run concurrently up to --jobs; a stage that needs the whole
// machine runs alone.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { facepipe, tempDir, writeFiles } from '../helpers.js';

// Each stage marks itself running for 1.4 s and records, half-way, which stages it saw running.
const stage = (name: string, extra = '') => `  ${name}:
    uses: command${extra}
    with:
      run: touch running_${name}; sleep 0.7; ls running_* > seen_${name}; sleep 0.7; rm running_${name}
`;

async function seen(dir: string, name: string): Promise<string[]> {
  return (await readFile(path.join(dir, `seen_${name}`), 'utf8')).trim().split('\n').sort();
}

test('--jobs 2 runs independent stages at the same time; the default runs one at a time', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': `stages:\n${stage('a')}${stage('b')}` });
  const r1 = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r1.exitCode, 0, r1.all);
  assert.deepEqual(await seen(dir, 'a'), ['running_a']);
  assert.deepEqual(await seen(dir, 'b'), ['running_b']);
  const r2 = await facepipe(['run', 'p.yaml', '--jobs', '2', '--force', 'all'], { cwd: dir });
  assert.equal(r2.exitCode, 0, r2.all);
  assert.deepEqual(await seen(dir, 'a'), ['running_a', 'running_b']);
  assert.deepEqual(await seen(dir, 'b'), ['running_a', 'running_b']);
});

test('a stage that needs the whole machine runs alone even with free job slots', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': `concurrency: 3\nstages:\n${stage('a')}${stage('big', '\n    resources: {machine: true}')}${stage('c')}` });
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  assert.deepEqual(await seen(dir, 'big'), ['running_big']);
  assert.deepEqual(await seen(dir, 'a'), ['running_a', 'running_c'], 'a and c share the machine');
  assert.deepEqual(await seen(dir, 'c'), ['running_a', 'running_c']);
});
