// Crashes, kills, interrupts and concurrent runners: nothing half-done is ever reused.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { facepipe, tempDir, writeFiles } from '../helpers.js';

async function waitFor(file: string, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!existsSync(file)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${file}`);
    await sleep(50);
  }
}

// Writes half its output, then waits until the test lets it go on (file `go`) — or forever.
const SLOW = `stages:
  slow:
    uses: command
    with:
      run: >-
        echo $PPID > stage.pid;
        echo part1 > "$FACEPIPE_OUT/big.txt";
        touch started;
        while [ ! -f go ]; do sleep 0.1; done;
        echo part2 >> "$FACEPIPE_OUT/big.txt";
        echo ran >> calls.log
      outs: [big.txt]
`;

interface Summary {
  status: string;
  stages: { name: string; status: string; outDir: string | null }[];
}

test('kill -9 of a stage mid-write: it is not finished, and the re-run redoes it whole', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': SLOW });
  const runner = facepipe(['run', 'p.yaml'], { cwd: dir });
  await waitFor(path.join(dir, 'started'));
  const stagePid = Number(await readFile(path.join(dir, 'stage.pid'), 'utf8'));
  process.kill(-stagePid, 'SIGKILL'); // the stage's whole process group: node, sh and its children
  const r = await runner;
  assert.equal(r.exitCode, 1, r.all);
  assert.match(r.stdout, /✗ slow: FAILED: stage process was killed by SIGKILL/);
  const st = await facepipe(['status', 'p.yaml'], { cwd: dir });
  assert.match(st.stdout, /✗ outdated +slow/);
  await writeFile(path.join(dir, 'go'), '');
  const again = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  const s = JSON.parse(again.stdout) as Summary;
  assert.equal(s.stages[0]!.status, 'ran');
  assert.equal(await readFile(path.join(s.stages[0]!.outDir!, 'big.txt'), 'utf8'), 'part1\npart2\n');
});

test('kill -9 of the runner: its stage stops, the dead lock is taken over, the re-run completes', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': SLOW });
  const runner = facepipe(['run', 'p.yaml'], { cwd: dir });
  await waitFor(path.join(dir, 'started'));
  runner.kill('SIGKILL');
  await runner;
  // The orphaned stage notices the runner is gone and stops without committing anything.
  const stagePid = Number(await readFile(path.join(dir, 'stage.pid'), 'utf8'));
  for (let i = 0; i < 200 && alive(stagePid); i++) await sleep(50);
  assert.equal(alive(stagePid), false, 'the stage process exits when its runner dies');
  await writeFile(path.join(dir, 'go'), '');
  const again = await facepipe(['run', 'p.yaml'], { cwd: dir });
  assert.equal(again.exitCode, 0, again.all);
  assert.match(again.stdout, /slow: took over a stale lock: .*pid \d+ .*is no longer running/);
  assert.match(again.stdout, /✓ slow: done/);
  assert.deepEqual((await readFile(path.join(dir, 'calls.log'), 'utf8')).trim().split('\n'), ['ran']);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('two runners at once on one runs folder: the stage executes once, both succeed', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': SLOW });
  const a = facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  await waitFor(path.join(dir, 'started'));
  const b = facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  await sleep(1500); // b is now waiting on a's lock
  await writeFile(path.join(dir, 'go'), '');
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.exitCode, 0, ra.all);
  assert.equal(rb.exitCode, 0, rb.all);
  assert.match(rb.stderr, /slow: waiting for another runner that is running it \(pid \d+/);
  assert.deepEqual([(JSON.parse(ra.stdout) as Summary).stages[0]!.status, (JSON.parse(rb.stdout) as Summary).stages[0]!.status], ['ran', 'cached']);
  assert.match(rb.stderr, /✓ slow: cached \(finished by another runner\)/);
  assert.deepEqual((await readFile(path.join(dir, 'calls.log'), 'utf8')).trim().split('\n'), ['ran']);
});

test('Ctrl-C reaches the stage, which can save; the run is recorded as interrupted, nothing is cached', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, {
    'p.yaml': `stages:
  train:
    uses: command
    with:
      run: >-
        trap 'echo checkpoint > saved.txt; exit 130' INT;
        touch started;
        while true; do sleep 0.1 & wait; done
`,
  });
  const runner = facepipe(['run', 'p.yaml', '--json'], { cwd: dir });
  await waitFor(path.join(dir, 'started'));
  runner.kill('SIGINT');
  const r = await runner;
  assert.equal(r.exitCode, 130, r.all);
  assert.equal(await readFile(path.join(dir, 'saved.txt'), 'utf8'), 'checkpoint\n');
  const s = JSON.parse(r.stdout) as Summary;
  assert.equal(s.status, 'interrupted');
  assert.equal(s.stages[0]!.status, 'failed');
  const st = await facepipe(['status', 'p.yaml'], { cwd: dir });
  assert.match(st.stdout, /✗ outdated +train/);
});
