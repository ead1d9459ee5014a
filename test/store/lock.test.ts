import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { acquireLock, readLock, type LockInfo } from '../../src/store/lock.js';

const LOCK_JS = new URL('../../src/store/lock.js', import.meta.url).href;
const KEY = 'ab'.repeat(32);

async function tmp(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'facepipe-lock-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line matching `re`. */
  waitFor(re: RegExp): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A real node process running `body` (ESM, with `acquireLock`, `fs`, `sleep` in scope). */
function child(t: TestContext, body: string): Child {
  const code = `import { acquireLock } from ${JSON.stringify(LOCK_JS)};
import fs from 'node:fs/promises';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
${body}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const lines: string[] = [];
  const waiters: Array<[RegExp, (l: string) => void]> = [];
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w[0].test(line)) { waiters.splice(waiters.indexOf(w), 1); w[1](line); }
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const waitFor = (re: RegExp): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    return seen !== undefined ? Promise.resolve(seen) : new Promise((r) => waiters.push([re, r]));
  };
  return { proc, lines, waitFor, exit };
}

/**
 * Each child takes the lock `rounds` times and, while holding it, creates `holder` exclusively:
 * if two ever held the lock at once, one of these creations would fail.
 */
function contender(t: TestContext, locksDir: string, holder: string, rounds: number): Child {
  return child(t, `
for (let i = 0; i < ${rounds}; i++) {
  const lock = await acquireLock(${JSON.stringify(locksDir)}, { key: '${KEY}', stage: 's', runId: 'r' + process.pid },
    { pollMs: 5, heartbeatMs: 100, staleMs: 10_000, onTakeover: (_s, why) => console.log('takeover ' + why) });
  try { await fs.writeFile(${JSON.stringify(holder)}, String(process.pid), { flag: 'wx' }); }
  catch (e) { console.log('VIOLATION ' + e.message); process.exit(2); }
  console.log('held');
  await sleep(Math.random() * 20);
  await fs.rm(${JSON.stringify(holder)});
  await lock.release();
}
console.log('done');`);
}

test('two processes contending: exactly one holds the lock at a time', async (t) => {
  const dir = await tmp(t);
  const locks = path.join(dir, 'locks');
  const kids = [contender(t, locks, path.join(dir, 'holder'), 15), contender(t, locks, path.join(dir, 'holder'), 15)];
  const exits = await Promise.all(kids.map((k) => k.exit));
  assert.deepEqual(exits.map((e) => e.code), [0, 0], kids.flatMap((k) => k.lines).join('\n'));
  assert.equal(kids.flatMap((k) => k.lines).filter((l) => l === 'held').length, 30);
  assert.deepEqual((await fs.readdir(locks)).filter((n) => !n.includes('.takeover.')), [], 'no lock file or temp file left');
});

test('a lock whose holder was killed (-9) is taken over at once, with the reason', async (t) => {
  const dir = await tmp(t);
  const holder = child(t, `await acquireLock(${JSON.stringify(dir)}, { key: '${KEY}', stage: 'train', runId: 'r1' }); console.log('held'); await sleep(60000);`);
  await holder.waitFor(/^held$/);
  const pid = holder.proc.pid as number;
  holder.proc.kill('SIGKILL');
  await holder.exit;
  assert.equal((await readLock(dir, KEY))?.stale, `its holder, pid ${pid} on ${os.hostname()}, is no longer running`);

  const events: Array<[LockInfo, string]> = [];
  const started = Date.now();
  const lock = await acquireLock(dir, { key: KEY, stage: 'train', runId: 'r2' }, { onTakeover: (s, why) => events.push([s, why]) });
  assert.ok(Date.now() - started < 5000, 'no need to wait for staleMs (30 s)');
  assert.equal(events.length, 1);
  assert.equal(events[0]?.[0].pid, pid);
  assert.equal(events[0]?.[0].runId, 'r1');
  assert.match(events[0]?.[1] ?? '', /is no longer running/);
  assert.equal((await readLock(dir, KEY))?.info.pid, process.pid);
  await lock.release();
  assert.equal(await readLock(dir, KEY), undefined);
});

test('a holder without heartbeat (stopped) is taken over; its later release leaves the new lock alone', async (t) => {
  const dir = await tmp(t);
  const holder = child(t, `
const lock = await acquireLock(${JSON.stringify(dir)}, { key: '${KEY}', stage: 'train', runId: 'old' }, { heartbeatMs: 100, staleMs: 800 });
lock.lost.addEventListener('abort', () => console.log('lost ' + lock.lost.reason.message));
console.log('held');
process.stdin.once('data', async () => { await lock.release(); console.log('released'); process.exit(0); });`);
  await holder.waitFor(/^held$/);
  holder.proc.kill('SIGSTOP');
  const reasons: string[] = [];
  const waited: LockInfo[] = [];
  const lock = await acquireLock(dir, { key: KEY, stage: 'train', runId: 'new' }, {
    heartbeatMs: 100, staleMs: 800, pollMs: 20, onWait: (h) => waited.push(h), onTakeover: (_s, why) => reasons.push(why),
  });
  assert.equal(waited.length, 1, 'onWait is called once for the holder');
  assert.equal(waited[0]?.runId, 'old');
  assert.equal(reasons.length, 1);
  assert.match(reasons[0] ?? '', /no heartbeat from its holder, pid \d+ on .* for \d+\.\ds \(limit 0\.8s\)/);

  holder.proc.kill('SIGCONT');
  holder.proc.stdin?.write('go\n');
  await holder.waitFor(/^released$/);
  assert.equal((await readLock(dir, KEY))?.info.runId, 'new', 'the old holder did not remove our lock');
  assert.equal(lock.lost.aborted, false);
  await lock.release();
});

test('the old holder notices it lost the lock at its next heartbeat', async (t) => {
  const dir = await tmp(t);
  const holder = child(t, `
const lock = await acquireLock(${JSON.stringify(dir)}, { key: '${KEY}', stage: 'train', runId: 'old' }, { heartbeatMs: 100, staleMs: 800 });
lock.lost.addEventListener('abort', () => { console.log('lost: ' + lock.lost.reason.message); process.exit(0); });
console.log('held'); await sleep(60000);`);
  await holder.waitFor(/^held$/);
  holder.proc.kill('SIGSTOP');
  const lock = await acquireLock(dir, { key: KEY, stage: 'train', runId: 'new' }, { heartbeatMs: 100, staleMs: 800, pollMs: 20 });
  holder.proc.kill('SIGCONT');
  const line = await holder.waitFor(/^lost/);
  assert.match(line, /lost the lock of stage 'train'.*taken over by pid \d+ .*\(run new\)/);
  await lock.release();
});

test('several waiters racing for one stale lock: exactly one takes it over', async (t) => {
  const dir = await tmp(t);
  const locks = path.join(dir, 'locks');
  await fs.mkdir(locks);
  // A lock from another machine that stopped heartbeating a minute ago.
  const old = new Date(Date.now() - 60_000);
  const file = path.join(locks, `${KEY}.lock`);
  await fs.writeFile(file, JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: old.toISOString(), heartbeatAt: old.toISOString(),
    key: KEY, stage: 's', runId: 'gone', token: 'deadbeef', hostId: 'elsewhere//' }));
  await fs.utimes(file, old, old);
  const kids = Array.from({ length: 6 }, () => contender(t, locks, path.join(dir, 'holder'), 1));
  const exits = await Promise.all(kids.map((k) => k.exit));
  const lines = kids.flatMap((k) => k.lines);
  assert.deepEqual(exits.map((e) => e.code), [0, 0, 0, 0, 0, 0], lines.join('\n'));
  assert.equal(lines.filter((l) => l.startsWith('takeover')).length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l === 'held').length, 6);
});

test('release of a lock that is no longer ours does not delete the new holder\'s', async (t) => {
  const dir = await tmp(t);
  const ours = await acquireLock(dir, { key: KEY, stage: 's', runId: 'ours' }, { heartbeatMs: 60_000, staleMs: 120_000 });
  // Someone judged us stale and replaced the file (as a takeover does).
  const file = path.join(dir, `${KEY}.lock`);
  const theirs = { ...JSON.parse(await fs.readFile(file, 'utf8')), runId: 'theirs', token: 'other-token' };
  await fs.rm(file);
  await fs.writeFile(file, JSON.stringify(theirs));
  await ours.release();
  assert.equal((await readLock(dir, KEY))?.info.runId, 'theirs');
});

test('an unparsable lock file is waited on while fresh and taken over once old', async (t) => {
  const dir = await tmp(t);
  const file = path.join(dir, `${KEY}.lock`);
  await fs.writeFile(file, '{"pid": 12');
  assert.equal((await readLock(dir, KEY, { staleMs: 1000 }))?.stale, false);
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('gave up')), 300);
  await assert.rejects(acquireLock(dir, { key: KEY, stage: 's', runId: 'r' }, { staleMs: 1000, pollMs: 20, signal: ac.signal }), /gave up/);

  const old = new Date(Date.now() - 5000);
  await fs.utimes(file, old, old);
  const reasons: string[] = [];
  const lock = await acquireLock(dir, { key: KEY, stage: 's', runId: 'r' }, { staleMs: 1000, onTakeover: (_s, why) => reasons.push(why) });
  assert.match(reasons[0] ?? '', /^unreadable lock file \(.*\), untouched for \d/);
  await lock.release();
});

test('the heartbeat keeps a long-held lock fresh', async (t) => {
  const dir = await tmp(t);
  const lock = await acquireLock(dir, { key: KEY, stage: 's', runId: 'r' }, { heartbeatMs: 50, staleMs: 200 });
  await sleep(500);
  const seen = await readLock(dir, KEY, { staleMs: 200 });
  assert.equal(seen?.stale, false);
  assert.ok(Date.now() - Date.parse(seen?.info.heartbeatAt ?? '') < 200);
  await lock.release();
});

test('a process that exits without releasing does not leave its lock behind', async (t) => {
  const dir = await tmp(t);
  const c = child(t, `await acquireLock(${JSON.stringify(dir)}, { key: '${KEY}', stage: 's', runId: 'r' }); console.log('held'); process.exit(3);`);
  assert.equal((await c.exit).code, 3);
  assert.deepEqual(c.lines, ['held']);
  assert.equal(await readLock(dir, KEY), undefined);
});

test('invalid timing options are refused with the fix', async (t) => {
  const dir = await tmp(t);
  await assert.rejects(acquireLock(dir, { key: KEY, stage: 's', runId: 'r' }, { heartbeatMs: 1000, staleMs: 1500 }),
    /staleMs \(1500\) must be at least twice heartbeatMs \(1000\)/);
});
