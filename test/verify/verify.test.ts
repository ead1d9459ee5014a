import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { compareStage } from '../../src/verify/drift.js';
import type { LockedStage } from '../../src/verify/lock.js';
import { facepipe, tempDir, writeFiles } from '../helpers.js';

const PIPELINE = (noise: string) => `stages:
  make:
    uses: command
    with: {run: 'echo stable > "$FACEPIPE_OUT/a.txt"', outs: [a.txt]}
  score:
    uses: command
    verify: {compare: metrics, tolerance: 0.05}
    with:
      run: >-
        echo "{\\"acc\\": $(awk -v seed=$$ 'BEGIN{srand(seed); print 0.9 + ${noise} * rand()}')}" > "$FACEPIPE_OUT/m.json";
        cat "\${{ stages.make.out }}/a.txt" > /dev/null
      outs: [m.json]
      metrics: m.json
`;

async function locked(t: Parameters<typeof tempDir>[0], noise: string): Promise<string> {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': PIPELINE(noise) });
  const before = await facepipe(['lock', 'p.yaml'], { cwd: dir });
  assert.equal(before.exitCode, 2, 'nothing to lock before a run');
  assert.match(before.stderr, /not every stage of 'p' is finished: make, score\n +fix: run it first: facepipe run p\.yaml/);
  assert.equal((await facepipe(['run', 'p.yaml'], { cwd: dir })).exitCode, 0);
  const l = await facepipe(['lock', 'p.yaml'], { cwd: dir });
  assert.equal(l.exitCode, 0, l.all);
  assert.match(l.stdout, /locked 'p': 2 stages, 2 outputs → p\.lock/);
  return dir;
}

test('verify passes on an unchanged pipeline: exact bytes where deterministic, metrics within tolerance elsewhere', async (t) => {
  const dir = await locked(t, '0.01');
  const r = await facepipe(['verify', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /✓ make +1 output identical/);
  assert.match(r.stdout, /✓ score +(metric acc: [\d.]+ → [\d.]+ \(tolerance 0\.05, within\)|1 metric identical)/);
  assert.match(r.stdout, /reproduced: no drift/);
});

test('verify fails with a readable diff when an output was tampered with, or a metric drifts too far', async (t) => {
  const dir = await locked(t, '0.5');
  const lock = JSON.parse(await readFile(path.join(dir, 'p.lock'), 'utf8')) as { stages: Record<string, LockedStage> };
  lock.stages.make!.outputs['a.txt'] = 'sha256:' + '0'.repeat(64);
  lock.stages.score!.metrics.acc = 0.2;
  await writeFile(path.join(dir, 'p.lock'), JSON.stringify(lock));
  const r = await facepipe(['verify', 'p.yaml', '--json'], { cwd: dir });
  assert.equal(r.exitCode, 1, r.all);
  const v = JSON.parse(r.stdout) as { ok: boolean; verdicts: { stage: string; ok: boolean; lines: string[] }[] };
  assert.equal(v.ok, false);
  assert.deepEqual(v.verdicts.map((x) => [x.stage, x.ok]), [['make', false], ['score', false]]);
  assert.match(v.verdicts[0]!.lines[0]!, /a\.txt differs \(000000000000 → [0-9a-f]{12}\)/);
  assert.match(v.verdicts[1]!.lines.join('\n'), /metric acc: 0\.2 → [\d.]+ \(tolerance 0\.05, exceeded\)/);
});

test('a changed parameter after locking shows up as a changed key, explained', async (t) => {
  const dir = await locked(t, '0');
  await writeFile(path.join(dir, 'p.yaml'), PIPELINE('0').replace('echo stable', 'echo changed'));
  const r = await facepipe(['verify', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.stdout, /✗ make +its key changed .*\n +parameter with\.run: "echo stable/);
  assert.match(r.stdout, /✗ score +its key changed .*\n +upstream stage 'make' changed/);
});

test('on another CPU or backend, a compute stage is held to its metrics, not its bytes', () => {
  const base: LockedStage = { kind: 'train', key: 'k', components: { format: 1, kind: 'train', kindVersion: '1', params: {}, upstream: {}, inputs: {} }, compare: 'exact', exactOutputs: ['model/**'], checkedMetrics: ['loss'], tolerance: 0.01, outputs: { 'model/w.bin': 'sha256:aa', 'train.json': 'sha256:cc' }, metrics: { loss: 1.0, images_per_second: 9 }, backend: { package: '@tensorflow/tfjs-node' } };
  const now = { ...base, outputs: { 'model/w.bin': 'sha256:bb', 'train.json': 'sha256:dd' }, metrics: { loss: 1.005, images_per_second: 7 } };
  const timesOnly = compareStage('train', base, { ...base, outputs: { ...base.outputs, 'train.json': 'sha256:dd' }, metrics: { loss: 1.0, images_per_second: 3 } }, undefined);
  assert.equal(timesOnly.ok, true, 'outputs outside the exact globs and unlisted metrics (timings) are not compared');
  const same = compareStage('train', base, now, undefined);
  assert.equal(same.ok, false, 'same setup: the weights must match byte for byte');
  assert.match(same.lines.join('\n'), /model\/w\.bin differs/);
  const moved = compareStage('train', base, now, 'CPU A → CPU B');
  assert.equal(moved.ok, true);
  assert.equal(moved.mode, 'metrics');
  assert.match(moved.lines[0]!, /different setup \(CPU A → CPU B\): comparing metrics/);
  assert.equal(compareStage('train', base, { ...now, metrics: { loss: 1.5 } }, 'CPU A → CPU B').ok, false);
});
