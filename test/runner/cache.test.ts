// The runner's caching contract, through the real CLI: what runs, what is reused, and why.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { test } from 'node:test';
import { facepipe, tempDir, writeFiles } from '../helpers.js';

interface Summary {
  status: string;
  inputs: { filesHashed: number; bytesHashed: number; cacheHits: number };
  stages: { name: string; status: string; key: string; outDir: string | null }[];
}

// Each command appends its name to calls.log (outside the store) so tests can count executions.
const PIPELINE = `
config:
  scale: 2
stages:
  prepare:
    uses: command
    with:
      run: echo prepare >> calls.log && tr a-z A-Z < data/input.txt > "$FACEPIPE_OUT/upper.txt"
      deps: [data/input.txt]
      outs: [upper.txt]
  measure:
    uses: command
    with:
      run: >-
        echo measure >> calls.log &&
        wc -c < "\${{ stages.prepare.out }}/upper.txt" > "$FACEPIPE_OUT/size.txt" &&
        echo '{"scale": \${{ config.scale }}}' > "$FACEPIPE_OUT/m.json"
      outs: [size.txt, m.json]
      metrics: m.json
  report:
    uses: command
    with:
      run: echo report >> calls.log && cat "\${{ stages.measure.out }}/size.txt" > "$FACEPIPE_OUT/report.txt"
      outs: [report.txt]
  other:
    uses: command
    with:
      run: echo other >> calls.log && echo hi > "$FACEPIPE_OUT/o.txt"
`;

async function project(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': PIPELINE, 'data/input.txt': 'hello faces\n' });
  return dir;
}

async function run(dir: string, ...args: string[]): Promise<Summary> {
  const r = await facepipe(['run', 'p.yaml', '--json', ...args], { cwd: dir });
  assert.equal(r.exitCode, 0, r.all);
  return JSON.parse(r.stdout) as Summary;
}

const calls = async (dir: string) => (await readFile(path.join(dir, 'calls.log'), 'utf8')).trim().split('\n');
const statuses = (s: Summary) => Object.fromEntries(s.stages.map((x) => [x.name, x.status]));

test('a second run of an unchanged pipeline is all cached, runs nothing and re-reads no input', async (t) => {
  const dir = await project(t);
  // A file changed within 2 s of being hashed is "racy" (git's term: a write in the same
  // timestamp tick would go unseen) and is hashed again next time; real inputs are older.
  await sleep(2100);
  const first = await run(dir);
  assert.deepEqual(statuses(first), { prepare: 'ran', measure: 'ran', report: 'ran', other: 'ran' });
  assert.equal(first.inputs.filesHashed, 1);
  assert.equal(await readFile(path.join(first.stages.find((s) => s.name === 'report')!.outDir!, 'report.txt'), 'utf8'), '12\n');
  const second = await run(dir);
  assert.deepEqual(statuses(second), { prepare: 'cached', measure: 'cached', report: 'cached', other: 'cached' });
  assert.deepEqual(second.inputs, { filesHashed: 0, bytesHashed: 0, cacheHits: 1 });
  assert.deepEqual(await calls(dir), ['prepare', 'measure', 'report', 'other']);
  assert.deepEqual(second.stages.map((s) => s.key), first.stages.map((s) => s.key));
});

test('changing one parameter re-runs exactly that stage and its downstream; explain names it', async (t) => {
  const dir = await project(t);
  await run(dir);
  const explain = await facepipe(['explain', 'p.yaml', 'measure', '-S', 'scale=3'], { cwd: dir });
  assert.equal(explain.exitCode, 0, explain.all);
  assert.match(explain.stdout, /parameter with\.run: .*scale\\": 2.* → .*scale\\": 3/);
  const again = await run(dir, '-S', 'scale=3');
  assert.deepEqual(statuses(again), { prepare: 'cached', measure: 'ran', report: 'ran', other: 'cached' });
  assert.deepEqual(await calls(dir), ['prepare', 'measure', 'report', 'other', 'measure', 'report']);
});

test('an edited input re-runs its stage and downstream, and explain says which input', async (t) => {
  const dir = await project(t);
  await run(dir);
  await writeFile(path.join(dir, 'data/input.txt'), 'hello again faces\n');
  const explain = await facepipe(['explain', 'p.yaml', 'prepare'], { cwd: dir });
  assert.match(explain.stdout, /input data\/input\.txt changed/);
  const plan = await facepipe(['plan', 'p.yaml'], { cwd: dir });
  assert.match(plan.stdout, /▶ run +prepare/);
  assert.match(plan.stdout, /✓ cached other/);
  const again = await run(dir);
  assert.deepEqual(statuses(again), { prepare: 'ran', measure: 'ran', report: 'ran', other: 'cached' });
  assert.equal(again.inputs.filesHashed, 1);
});

test('an input whose content is unchanged is not a change, even with a new mtime', async (t) => {
  const dir = await project(t);
  await run(dir);
  await writeFile(path.join(dir, 'data/input.txt'), 'hello faces\n');
  const again = await run(dir);
  assert.deepEqual(statuses(again), { prepare: 'cached', measure: 'cached', report: 'cached', other: 'cached' });
  assert.equal(again.inputs.filesHashed, 1, 'the touched file is re-hashed once');
});

test('--force re-runs one stage, --dry-run runs nothing, and metrics reach the summary', async (t) => {
  const dir = await project(t);
  await run(dir);
  const dry = await facepipe(['run', 'p.yaml', '--dry-run', '--force', 'other'], { cwd: dir });
  assert.equal(dry.exitCode, 0, dry.all);
  assert.match(dry.stdout, /▶ run +other .*\n +forced \(--force\)/);
  const forced = await run(dir, '--force', 'other');
  assert.deepEqual(statuses(forced), { prepare: 'cached', measure: 'cached', report: 'cached', other: 'ran' });
  assert.deepEqual(await calls(dir), ['prepare', 'measure', 'report', 'other', 'other']);
  const records = JSON.parse((await facepipe(['runs', '--json'], { cwd: dir })).stdout) as { status: string }[];
  assert.equal(records.length, 2, 'a dry run leaves no record');
  const r = await facepipe(['run', 'p.yaml', '--json', '--force', 'all'], { cwd: dir });
  const measure = (JSON.parse(r.stdout) as { stages: { name: string; metrics: object }[] }).stages.find((s) => s.name === 'measure');
  assert.deepEqual(measure?.metrics, { scale: 2 });
});

test('a failing stage shows its log tail, skips what depends on it, and exits non-zero', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'p.yaml': `stages:
  bad:
    uses: command
    with: {run: "echo about to fail; echo details >&2; exit 3"}
  after:
    uses: command
    with: {run: "cat \${{ stages.bad.out }}/x"}
  fine:
    uses: command
    with: {run: "true"}
`,
  });
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.stdout, /✗ bad: FAILED: command exited with 3/);
  assert.match(r.stdout, /│ about to fail\n.*│ details/);
  assert.match(r.stdout, /full log: runs\/p\/[^/]+\/logs\/bad\.log/);
  assert.match(r.stdout, /- after: skipped \(upstream stage 'bad' did not finish\)/);
  assert.match(r.stdout, /✓ fine: done/);
  const st = await facepipe(['status', 'p.yaml'], { cwd: dir });
  assert.match(st.stdout, /✗ outdated +bad/);
  assert.match(st.stdout, /✓ up to date +fine/);
});

test('a declared output that was not written fails the stage', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    with: {run: "true", outs: [model.bin]}\n' });
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.stdout, /declared outs were not created in \$FACEPIPE_OUT: model\.bin/);
});

test('config errors stop the CLI with exit code 2 and file:line:col', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    with: {run: x, dep: [a]}\n' });
  const r = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /p\.yaml:4:20 +stages\.a\.with\.dep: unknown key 'dep'; did you mean 'deps'\?/);
  assert.equal(r.stdout, '');
});

test('a persistent work folder survives a failed attempt, so the re-run resumes; it goes once the stage succeeds', async (t) => {
  const dir = await tempDir(t);
  // First attempt: saves a checkpoint, then fails. Second: finds the checkpoint and finishes.
  await writeFiles(dir, {
    'p.yaml': `stages:
  train:
    uses: command
    with:
      persistent_work: true
      run: >-
        if [ -f "\${{ work }}/ckpt" ]; then
          echo "resumed from $(cat "$FACEPIPE_WORK/ckpt")" > "$FACEPIPE_OUT/result.txt";
        else
          echo step-500 > "$FACEPIPE_WORK/ckpt"; exit 1;
        fi
      outs: [result.txt]
`,
  });
  const first = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(first.exitCode, 1, first.all);
  const second = await run(dir);
  assert.equal(second.stages[0]!.status, 'ran');
  assert.equal(await readFile(path.join(second.stages[0]!.outDir!, 'result.txt'), 'utf8'), 'resumed from step-500\n');
  const work = path.join(dir, 'runs', '.facepipe', 'work', second.stages[0]!.key);
  await assert.rejects(readFile(path.join(work, 'ckpt')), 'the work folder is removed after success');
});

test('${{ work }} in a stage without a persistent work folder is a config error', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': 'stages:\n  a:\n    uses: command\n    with:\n      run: ls ${{ work }}\n' });
  const r = await facepipe(['validate', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /p\.yaml:5:7 +stages\.a\.with: \$\{\{ work \}\} is used, but stage 'a' has no persistent work folder/);
  assert.match(r.stderr, /fix: add persistent_work: true/);
});
