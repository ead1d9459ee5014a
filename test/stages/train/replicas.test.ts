// The train stage with `replicas: 2`: it learns as one replica does, a replica killed mid-run ends
// the stage with a clear error, and the re-run resumes from the last checkpoint, here with one.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { facepipe, tempDir, writeFiles } from '../../helpers.js';
import { tinyTrainPipeline } from './fixture.js';

const pipeline = (steps: number, replicas: number, batch: number) => tinyTrainPipeline(steps, { batch_size: batch, replicas });

interface Stage { name: string; status: string; outDir: string; metrics: Record<string, number> }

async function run(dir: string, args: string[] = []): Promise<Stage> {
  const r = await facepipe(['run', 'p.yaml', '--json', ...args], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  return (JSON.parse(r.stdout) as { stages: Stage[] }).stages.find((s) => s.name === 'train')!;
}

const curve = async (s: Stage) => (await readFile(path.join(s.outDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { step: number; inference_loss?: number }).filter((l) => l.inference_loss !== undefined);

test('2 replicas × 6 images learn as 1 replica accumulating 2 × 6 does, and say where their step time went', async (t) => {
  // Same images, same batch statistics (per 6), gradients averaged: the same training, up to float
  // rounding (the exact one-step equality is test/replica/coordinator.test.ts), which a few steps
  // of ArcFace on 6-image batch norm amplify. So: the same start, and curves that agree.
  const [a, b] = [await tempDir(t), await tempDir(t)];
  await writeFiles(a, { 'p.yaml': tinyTrainPipeline(40, { batch_size: 6, accumulate: 2 }) });
  // With held-out evaluation: it reads the coordinator's model, which must hold the shared weights.
  await writeFiles(b, { 'p.yaml': tinyTrainPipeline(40, { batch_size: 6, replicas: 2 }, '      eval: {every: 20, bins: ["${{ stages.faces.out }}/holdout.bin"]}\n') });
  const [one, two] = [await run(a), await run(b)];
  const [c1, c2] = [(await curve(one)).map((l) => l.inference_loss!), (await curve(two)).map((l) => l.inference_loss!)];
  assert.equal(c2.length, 8);
  assert.ok(Math.abs(c1[0]! - c2[0]!) < 1e-3 * c1[0]!, `step 5: loss ${c1[0]} (1 replica) vs ${c2[0]} (2 replicas)`);
  const late = (c: number[]) => c.slice(4).reduce((x, y) => x + y, 0) / 4;
  assert.ok(late(c1) < 0.7 * c1[0]! && late(c2) < 0.7 * c2[0]!, `both learn: ${c1} / ${c2}`);
  assert.ok(Math.abs(late(c1) - late(c2)) < 0.25 * late(c1), `steps 25-40: mean loss ${late(c1)} (1 replica) vs ${late(c2)} (2 replicas)`);
  const summary = JSON.parse(await readFile(path.join(two.outDir, 'train.json'), 'utf8')) as { replicas: { steps: number; stepMs: number; computeMs: number; bytesReceived: number } | null; config: { replicas: number } };
  assert.equal(summary.config.replicas, 2);
  assert.equal(summary.replicas!.steps, 40);
  assert.ok(summary.replicas!.computeMs > 0 && summary.replicas!.stepMs >= summary.replicas!.computeMs);
  assert.ok(summary.replicas!.bytesReceived > 0);
  assert.equal((JSON.parse(await readFile(path.join(one.outDir, 'train.json'), 'utf8')) as { replicas: unknown }).replicas, null);
  const logged = (await readFile(path.join(two.outDir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const evals = logged.filter((l) => 'holdout_accuracy' in l);
  assert.deepEqual(evals.map((l) => l.step), [20, 40]);
  assert.ok(evals[1]!.holdout_xnorm! !== evals[0]!.holdout_xnorm!, 'evaluation sees the weights move between steps 20 and 40');
  assert.ok(logged.filter((l) => 'loss' in l).every((l) => l.replica_compute_ms! > 0 && l.replica_step_ms! >= l.replica_compute_ms! && l.replica_overhead_ms! >= 0), 'each log line says where the replicas\' steps went');
});

test('a killed replica fails the stage with a clear error; the re-run resumes from the checkpoint with another replica count', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': pipeline(200, 2, 6) });
  const runner = facepipe(['run', 'p.yaml'], { cwd: dir });
  const work = path.join(dir, 'runs', '.facepipe', 'work');
  let pids: number[] = [];
  for (let i = 0; i < 1200 && pids.length === 0; i++) {
    for (const k of existsSync(work) ? await readdir(work) : []) {
      if (existsSync(path.join(work, k, 'checkpoints', 'ckpt-000000005'))) pids = (JSON.parse(await readFile(path.join(work, k, 'replicas.json'), 'utf8')) as { replicas: number[] }).replicas;
    }
    await sleep(50);
  }
  assert.equal(pids.length, 2, 'the stage wrote its replicas’ pids next to its first checkpoint');
  process.kill(pids[1]!, 'SIGKILL');
  const failed = await runner;
  assert.equal(failed.exitCode, 1, failed.all);
  assert.match(failed.all, new RegExp(`replica 1 \\(pid ${pids[1]}\\) died: SIGKILL`));
  assert.match(failed.all, /the last checkpoint is step (\d+): run again to resume from it \(with this or another replica count\)/);
  await sleep(200);
  assert.throws(() => process.kill(pids[0]!, 0), 'the other replica is gone too');
  const resumed = await run(dir, ['-S', 'stages.train.with.replicas=1', '-S', 'stages.train.with.batch_size=12']);
  assert.equal(resumed.metrics.steps, 200);
  const log = await readFile(path.join(dir, 'runs', 'p', 'latest', 'logs', 'train.log'), 'utf8');
  assert.match(log, /resumed from .*ckpt-0000000\d\d \(step \d+\)/);
  const steps = (await curve(resumed)).map((l) => l.step);
  assert.deepEqual(steps, [...Array(40).keys()].map((i) => (i + 1) * 5), 'the curves cover the whole run once');
});

test('Ctrl-C during 2-replica training checkpoints; the re-run ends with the weights of an uninterrupted run, bit for bit', async (t) => {
  const [a, b] = [await tempDir(t), await tempDir(t)];
  await writeFiles(a, { 'p.yaml': pipeline(60, 2, 6) });
  await writeFiles(b, { 'p.yaml': pipeline(60, 2, 6) });
  const straight = await run(a);
  const runner = facepipe(['run', 'p.yaml'], { cwd: b });
  const work = path.join(b, 'runs', '.facepipe', 'work');
  for (let i = 0; i < 1200; i++) {
    const keys = existsSync(work) ? await readdir(work) : [];
    if (keys.some((k) => existsSync(path.join(work, k, 'checkpoints', 'ckpt-000000005')))) break;
    await sleep(50);
  }
  runner.kill('SIGINT');
  const stopped = await runner;
  assert.equal(stopped.exitCode, 130, stopped.all);
  const resumed = await run(b);
  assert.match(await readFile(path.join(b, 'runs', 'p', 'latest', 'logs', 'train.log'), 'utf8'), /resumed from .*\(step \d+\)/);
  const sha = async (s: Stage) => createHash('sha256').update(await readFile(path.join(s.outDir, 'model', 'weights.bin'))).digest('hex');
  assert.equal(await sha(resumed), await sha(straight));
});
