// The sweep record is saved after every trial; parallel trials finishing together must not race
// on its temporary file (they did: the second rename found it gone and the sweep crashed).
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { SweepRecord } from '../../src/compare/runs.js';
import { saveSweepRecord } from '../../src/sweep/run-sweep.js';
import { tempDir } from '../helpers.js';

test('concurrent saves of one sweep record all succeed, in order, and leave no temporary files', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, '.sweeps', 'x', 'sweep.json');
  const rec: SweepRecord = { id: 'x', pipeline: 'p', trials: Array.from({ length: 16 }, (_, i) => ({ index: i + 1, assignments: { a: i }, status: 'pending' as const })) };
  await Promise.all(rec.trials.map((trial) => {
    trial.status = 'done' as typeof trial.status;
    return saveSweepRecord(file, rec);
  }));
  const saved = JSON.parse(await readFile(file, 'utf8')) as SweepRecord;
  assert.deepEqual(saved.trials.map((x) => x.status), Array(16).fill('done'));
  assert.deepEqual(await readdir(path.dirname(file)), ['sweep.json']);
});
