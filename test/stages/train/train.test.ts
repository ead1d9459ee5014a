// The train stage through the runner: it learns, writes a model anyone with tfjs can load, logs
// curves, and an interrupted run resumes to the very same weights.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { loadTf } from '../../../src/backend/tf.js';
import { readScalars } from '../../../src/formats/tensorboard.js';
import { facepipe, tempDir, writeFiles } from '../../helpers.js';
import { tinyTrainPipeline } from './fixture.js';

interface Stage {
  name: string;
  status: string;
  outDir: string;
  metrics: Record<string, number>;
}

const pipeline = (steps: number) =>
  tinyTrainPipeline(steps, { batch_size: 12, accumulate: 2 }, '      eval: {every: 20, bins: ["${{ stages.faces.out }}/holdout.bin"]}\n');

const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

async function run(dir: string): Promise<Stage> {
  const r = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  return (JSON.parse(r.stdout) as { stages: Stage[] }).stages.find((s) => s.name === 'train')!;
}

test('a tiny IR-ResNet learns the synthetic faces and is saved in the standard tfjs format', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': pipeline(40) });
  const train = await run(dir);
  const lines = (await readFile(path.join(train.outDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const evals = lines.filter((l) => 'holdout_accuracy' in l);
  assert.deepEqual(evals.map((l) => l.step), [20, 40], 'held-out verification every 20 steps');
  assert.ok(evals.every((l) => l.holdout_accuracy! >= 0 && l.holdout_accuracy! <= 1 && l.holdout_xnorm! > 0));
  const training = lines.filter((l) => 'loss' in l);
  assert.deepEqual(training.map((l) => l.step), [5, 10, 15, 20, 25, 30, 35, 40]);
  assert.ok(training.at(-1)!.inference_loss! < training[0]!.inference_loss! * 0.8, `inference loss ${training[0]!.inference_loss} → ${training.at(-1)!.inference_loss}`);
  assert.equal(train.metrics.steps, 40);
  const { tf } = await loadTf({ quiet: true });
  const model = await tf.loadLayersModel(`file://${path.join(train.outDir, 'model', 'model.json')}`);
  const e = model.predict(tf.zeros([3, 32, 32, 3])) as import('@tensorflow/tfjs').Tensor;
  assert.deepEqual(e.shape, [3, 32]);
  const events = (await readdir(path.join(train.outDir, 'tensorboard'))).filter((f) => f.includes('tfevents'));
  const scalars = await readScalars(path.join(train.outDir, 'tensorboard', events[0]!));
  assert.deepEqual([...new Set(scalars.map((s) => s.tag))].sort(), ['holdout_accuracy', 'holdout_xnorm', 'images/s', 'inference loss', 'learning rate', 'regularization coefficient', 'regularization loss', 'train accuracy', 'train accuracy (cosine logits)', 'train loss']);
  const head = await readdir(path.join(train.outDir, 'head'));
  assert.equal(head.length, 1);
  assert.ok(head[0]!.endsWith('.npy'));
});

test('Ctrl-C saves a checkpoint; the re-run resumes and ends with the same weights as an uninterrupted run', async (t) => {
  const [a, b] = [await tempDir(t), await tempDir(t)];
  await writeFiles(a, { 'p.yaml': pipeline(60) });
  await writeFiles(b, { 'p.yaml': pipeline(60) });
  const straight = await run(a);

  const runner = facepipe(['run', 'p.yaml'], { cwd: b });
  // Wait until training has written its first checkpoint, then interrupt.
  const work = path.join(b, 'runs', '.facepipe', 'work');
  for (let i = 0; i < 600; i++) {
    const keys = existsSync(work) ? await readdir(work) : [];
    if (keys.length && existsSync(path.join(work, keys[0]!, 'checkpoints', 'ckpt-000000005'))) break;
    await sleep(50);
  }
  runner.kill('SIGINT');
  const stopped = await runner;
  assert.equal(stopped.exitCode, 130, stopped.all);
  assert.match(stopped.stdout, /interrupted at step \d+; checkpoint saved — run again to resume/);
  const resumed = await run(b);
  assert.equal(resumed.status, 'ran');
  const log = await readFile(path.join(b, 'runs', 'p', 'latest', 'logs', 'train.log'), 'utf8');
  assert.match(log, /resumed from .*ckpt-0000000\d\d \(step \d+\)/);
  assert.equal(await sha(path.join(resumed.outDir, 'model', 'weights.bin')), await sha(path.join(straight.outDir, 'model', 'weights.bin')));
  const steps = (await readFile(path.join(resumed.outDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss?: number }).filter((l) => l.loss !== undefined).map((l) => l.step);
  assert.deepEqual(steps, [...Array(12).keys()].map((i) => (i + 1) * 5), 'the curves cover the whole run once');
});
