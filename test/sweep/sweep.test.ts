// A 4-trial sweep through the real CLI: shared stages run once; killed in trial 3 and re-launched,
// trials 1–2 come from the store, trial 3 resumes its training, trial 4 runs; compare has 4 rows.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { expand } from '../../src/sweep/expand.js';
import { parseDomain } from '../../src/sweep/grammar.js';
import { facepipe, tempDir, writeFiles } from '../helpers.js';

const PIPELINE = `config:
  lr: 0.02
  m: 0.2
stages:
  faces:
    uses: synth
    with: {identities: 6, images_per_identity: 4, holdout_identities: 0, size: 32, difficulty: easy}
  shards:
    uses: convert
    with: {input: "\${{ stages.faces.out }}", shards: 1}
  train:
    uses: train
    with:
      data: \${{ stages.shards.out }}
      steps: 40
      batch_size: 8
      model: {depth: 18, widths: [8, 8, 16, 16], stem: 8, input_size: 32, embedding: 16}
      head: {margin: {kind: arcface, s: 16, m: "\${{ config.m }}"}}
      lr: {kind: constant, initial: "\${{ config.lr }}"}
      checkpoint: {every: 5}
      log_every: 10
`;

test('the sweep grammar: lists, range (stop excluded), choice, interval; grid and seeded random expansion', () => {
  assert.deepEqual(parseDomain('0.1,0.05'), { kind: 'values', values: [0.1, 0.05] });
  assert.deepEqual(parseDomain('range(0.3,0.6,0.1)'), { kind: 'values', values: [0.3, 0.4, 0.5] });
  assert.deepEqual(parseDomain('range(1, 4)'), { kind: 'values', values: [1, 2, 3] });
  assert.deepEqual(parseDomain('choice(arcface, cosface)'), { kind: 'values', values: ['arcface', 'cosface'] });
  assert.deepEqual(parseDomain('[1,2]'), undefined, 'a YAML list is one value');
  assert.throws(() => parseDomain('range(1, 1)'), /empty/);
  const grid = expand({ mode: 'grid', seed: 0, parallel: 1, dims: [{ key: 'a', domain: { kind: 'values', values: [1, 2] } }, { key: 'b', domain: { kind: 'values', values: ['x', 'y'] } }] });
  assert.deepEqual(grid.map((t) => t.assignments), [{ a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 2, b: 'x' }, { a: 2, b: 'y' }]);
  const spec = { mode: 'random' as const, trials: 3, seed: 4, parallel: 1, dims: [{ key: 'lr', domain: { kind: 'interval' as const, low: 0.01, high: 0.1 } }] };
  const r1 = expand(spec).map((t) => t.assignments.lr as number);
  assert.deepEqual(expand(spec).map((t) => t.assignments.lr), r1, 'seeded');
  assert.ok(r1.every((x) => x >= 0.01 && x < 0.1) && new Set(r1).size === 3);
  assert.throws(() => expand({ ...spec, mode: 'grid' }), /interval\(\) needs random sampling/);
});

test('a sweep killed in trial 3 resumes: finished trials cached, trial 3 resumes training, trial 4 runs', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': PIPELINE });
  const args = ['run', 'p.yaml', '-S', 'lr=0.02,0.05', '-S', 'm=0.2,0.3'];
  const first = facepipe(args, { cwd: dir });
  let out = '';
  first.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const work = path.join(dir, 'runs', '.facepipe', 'work');
  const checkpointed = async () => {
    for (const k of existsSync(work) ? await readdir(work) : []) {
      if ((await readdir(path.join(work, k, 'checkpoints')).catch(() => [])).some((n) => n.startsWith('ckpt-'))) return true;
    }
    return false;
  };
  for (let i = 0; i < 2400 && !(/\[trial 3\/4\] +▶ train: running/.test(out) && (await checkpointed())); i++) await sleep(50);
  first.kill('SIGKILL');
  await first.catch(() => undefined);
  assert.match(out, /\[trial 1\/4\] +✓ faces: done/);
  assert.match(out, /\[trial 2\/4\] +✓ faces: cached\n.*\n\[trial 2\/4\] +▶ train: running/, 'shared stages run once');

  const again = await facepipe(args, { cwd: dir });
  assert.equal(again.exitCode, 0, again.all);
  for (const n of [1, 2]) assert.match(again.stdout, new RegExp(`\\[trial ${n}/4\\] facepipe: pipeline 'p', run [^:]+: 3 stages, 3 cached, 0 to run`));
  assert.match(again.stdout, /\[trial 3\/4\] +▶ train: running/);
  assert.match(again.stdout, /\[trial 4\/4\] +▶ train: running/);
  const runs = (await readdir(path.join(dir, 'runs', 'p'))).filter((n) => n !== 'latest' && !n.startsWith('.'));
  const logs = await Promise.all(runs.map((r) => import('node:fs/promises').then((fs) => fs.readFile(path.join(dir, 'runs', 'p', r, 'logs', 'train.log'), 'utf8').catch(() => ''))));
  assert.equal(logs.filter((l) => /resumed from .*ckpt-/.test(l)).length, 1, 'exactly one training resumed (trial 3)');

  const cmp = await facepipe(['compare', 'p.yaml', '--json'], { cwd: dir });
  assert.equal(cmp.exitCode, 0, cmp.all);
  const c = JSON.parse(cmp.stdout) as { params: string[]; rows: { params: Record<string, number> }[] };
  assert.deepEqual(c.params, ['lr', 'm']);
  assert.equal(c.rows.length, 4);
  assert.deepEqual(c.rows.map((r) => `${r.params.lr}/${r.params.m}`).sort(), ['0.02/0.2', '0.02/0.3', '0.05/0.2', '0.05/0.3']);
});

test("a pipeline's sweep block: seeded random draws within a budget, trials in parallel", async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'p.yaml': `config: {a: 1, b: x}
sweep:
  mode: random
  trials: 3
  seed: 7
  parallel: 2
  params:
    a: range(1, 10)
    b: [x, y]
stages:
  s:
    uses: command
    with:
      run: >-
        sleep 0.3; echo '{"score": \${{ config.a }}}' > "$FACEPIPE_OUT/m.json"; echo "\${{ config.b }}" >> seen.txt
      outs: [m.json]
      metrics: m.json
`,
  });
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /3 trials \(random, 2 at a time\)/);
  const cmp = JSON.parse((await facepipe(['compare', 'p.yaml', '--json'], { cwd: dir })).stdout) as { rows: { params: Record<string, unknown>; metrics: Record<string, number> }[] };
  assert.equal(cmp.rows.length, 3);
  for (const row of cmp.rows) assert.equal(row.metrics['s.score'], row.params.a);
  const again = await facepipe(['run', 'p.yaml', '--dry-run'], { cwd: dir });
  assert.equal(again.exitCode, 0, again.all);
  assert.equal((again.stdout.match(/✓ cached s/g) ?? []).length, 3, 'the same seeded trials, all cached');
});
