// A real compute stage through the runner: it loads TensorFlow in its own process, and the
// backend it got is recorded with its result.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { facepipe, tempDir, writeFiles } from '../../helpers.js';

interface Summary {
  stages: { name: string; status: string; outDir: string; metrics: Record<string, unknown> }[];
  record: string;
}

const PIPELINE = 'stages:\n  backend:\n    uses: doctor\n    with: {matmul_size: 128, compare_js: false}\n';

async function runDoctor(t: Parameters<typeof tempDir>[0], env: Record<string, string> = {}) {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': PIPELINE });
  const r = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir, env });
  assert.equal(r.exitCode, 0, r.all);
  const s = JSON.parse(r.stdout) as Summary;
  const record = JSON.parse(await readFile(s.record, 'utf8')) as { stages: { backend: { environment: { backend: { backend: string } } } } };
  return { stage: s.stages[0]!, environment: record.stages.backend.environment };
}

test('a compute stage gets the native TensorFlow backend, and the run records it', async (t) => {
  const { stage, environment } = await runDoctor(t);
  assert.equal(stage.metrics.backend, 'tensorflow', 'the native backend must load (npm test runs `facepipe setup` first)');
  assert.equal(stage.metrics.tensorflow, '2.21.0');
  assert.ok(typeof stage.metrics.matmul_gflops === 'number' && stage.metrics.matmul_gflops > 0);
  assert.equal(environment.backend.backend, 'tensorflow');
  const report = JSON.parse(await readFile(path.join(stage.outDir, 'doctor.json'), 'utf8')) as { matmul: { n: number } };
  assert.equal(report.matmul.n, 128);
});

test('FACEPIPE_BACKEND=js gives a compute stage the pure-JS backend, recorded as such', async (t) => {
  const { stage, environment } = await runDoctor(t, { FACEPIPE_BACKEND: 'js' });
  assert.equal(stage.metrics.backend, 'cpu');
  assert.equal(environment.backend.backend, 'cpu');
});
