// pipelines/orl.yaml on the real ORL faces: pack → convert → train → evaluate on 10 people the
// model never saw. The runner is killed mid-training and the re-run resumes from the checkpoint.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { facepipe, repoRoot, tempDir } from '../helpers.js';

interface Stage {
  name: string;
  status: string;
  outDir: string;
  metrics: Record<string, number>;
}

test('ORL: a small IR-ResNet, killed mid-training and resumed, verifies unseen people far above chance', async (t) => {
  const runs = await tempDir(t);
  const pipeline = path.join(repoRoot, 'pipelines', 'orl.yaml');
  const first = facepipe(['run', pipeline, '--runs-dir', runs], { cwd: repoRoot });
  const work = path.join(runs, '.facepipe', 'work');
  let checkpointed = false;
  for (let i = 0; i < 2400 && !checkpointed; i++) {
    for (const key of existsSync(work) ? await readdir(work) : []) {
      if (existsSync(path.join(work, key, 'checkpoints', 'ckpt-000000100'))) checkpointed = true;
    }
    await sleep(50);
  }
  assert.ok(checkpointed, 'training wrote its step-100 checkpoint');
  first.kill('SIGKILL');
  await first.catch(() => undefined);

  const r = await facepipe(['run', pipeline, '--runs-dir', runs, '--json'], { cwd: repoRoot });
  assert.equal(r.exitCode, 0, r.all);
  const stages = (JSON.parse(r.stdout) as { stages: Stage[] }).stages;
  assert.deepEqual(stages.map((s) => [s.name, s.status]), [['pack', 'cached'], ['shards', 'cached'], ['train', 'ran'], ['evaluate', 'ran'], ['report', 'ran']]);
  const log = await readFile(path.join(runs, 'orl', 'latest', 'logs', 'train.log'), 'utf8');
  assert.match(log, /resumed from .*ckpt-0000001\d\d \(step 1\d\d\)/);
  const acc = stages.find((s) => s.name === 'evaluate')!.metrics.holdout_accuracy!;
  t.diagnostic(`held-out verification accuracy on ORL: ${acc}`);
  assert.ok(acc > 0.8, `held-out accuracy ${acc} should be far above chance (0.5)`);
});
