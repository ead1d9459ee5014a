// `facepipe lock` and `facepipe verify`: record what a pipeline produced, and prove a fresh re-run
// produces it again.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseOverride, type Override } from '../config/overrides.js';
import { formatDuration } from '../runner/events.js';
import { prepare } from '../runner/prepare.js';
import { PlainRenderer } from '../ui/plain.js';
import { compareStage, type StageVerdict } from '../verify/drift.js';
import { buildLock, lockPath, readLock, writeLock, type LockFile, type LockedStage } from '../verify/lock.js';
import { runPrepared } from './run.js';

export async function lockCommand(o: { file: string; overrides: Override[]; runsDir: string }): Promise<number> {
  const prep = await prepare({ file: o.file, overrides: o.overrides, runsDir: o.runsDir, force: new Set(), rehash: false });
  const lock = await buildLock(prep, o.overrides.map((x) => x.text));
  const file = lockPath(prep.pipeline.file);
  await writeLock(file, lock);
  const outputs = Object.values(lock.stages).reduce((n, s) => n + Object.keys(s.outputs).length, 0);
  process.stdout.write(`locked '${lock.pipeline}': ${Object.keys(lock.stages).length} stages, ${outputs} outputs → ${path.relative(process.cwd(), file)}\n`);
  return 0;
}

/** Why exact bytes cannot be expected of compute stages here, if the setup differs. */
function environmentChange(a: LockFile, b: LockFile, stage: string): string | undefined {
  const [x, y] = [a.stages[stage]?.backend, b.stages[stage]?.backend];
  if (a.environment.cpu !== b.environment.cpu) return `CPU ${a.environment.cpu} → ${b.environment.cpu}`;
  if (JSON.stringify(x) !== JSON.stringify(y)) return `backend ${JSON.stringify(x)} → ${JSON.stringify(y)}`;
  return undefined;
}

export async function verifyCommand(o: { file: string; keep: boolean; json: boolean }): Promise<number> {
  const file = lockPath(path.resolve(o.file));
  const locked = await readLock(file);
  const overrides = locked.overrides.map(parseOverride);
  const runsDir = await mkdtemp(path.join(os.tmpdir(), 'facepipe-verify-'));
  const t0 = Date.now();
  try {
    const prep = await prepare({ file: o.file, overrides, runsDir, force: new Set(), rehash: false });
    const ui = new PlainRenderer(process.stderr, 30, '  (re-run) ');
    const run = await runPrepared(prep, { file: o.file, overrides, runsDir, force: new Set(), rehash: false, argv: ['verify', o.file], dryRun: false, json: false, gpus: 0 }, (e) => ui.handle(e));
    if (run.status !== 'succeeded') {
      process.stdout.write(`verify: the re-run of '${locked.pipeline}' did not finish (${run.status}); see ${run.record}\n`);
      return 1;
    }
    const now = await buildLock(await prepare({ file: o.file, overrides, runsDir, force: new Set(), rehash: false }), locked.overrides);
    const verdicts = Object.entries(locked.stages).map(([name, l]): StageVerdict =>
      now.stages[name] ? compareStage(name, l, now.stages[name] as LockedStage, environmentChange(locked, now, name)) : { stage: name, ok: false, mode: l.compare, lines: ['the stage is gone from the pipeline'] },
    );
    for (const extra of Object.keys(now.stages).filter((n) => !locked.stages[n])) verdicts.push({ stage: extra, ok: false, mode: 'exact', lines: ['a new stage, not in the lock'] });
    const drift = verdicts.filter((v) => !v.ok);
    if (o.json) process.stdout.write(JSON.stringify({ pipeline: locked.pipeline, ok: drift.length === 0, verdicts }, null, 2) + '\n');
    else printVerdicts(o.file, file, verdicts, (Date.now() - t0) / 1000);
    return drift.length === 0 ? 0 : 1;
  } finally {
    if (o.keep) process.stderr.write(`kept the re-run in ${runsDir}\n`);
    else await rm(runsDir, { recursive: true, force: true });
  }
}

function printVerdicts(pipeline: string, lock: string, verdicts: StageVerdict[], seconds: number): void {
  const w = Math.max(...verdicts.map((v) => v.stage.length));
  const out = [`verify ${path.relative(process.cwd(), path.resolve(pipeline))} against ${path.relative(process.cwd(), lock)} (a fresh re-run, ${formatDuration(seconds)})`];
  for (const v of verdicts) {
    const mark = v.ok ? (v.mode === 'none' ? '–' : '✓') : '✗';
    v.lines.forEach((l, i) => out.push(i === 0 ? `  ${mark} ${v.stage.padEnd(w)}  ${l}` : `    ${' '.repeat(w)}  ${l}`));
  }
  const bad = verdicts.filter((v) => !v.ok).length;
  out.push(bad === 0 ? 'reproduced: no drift' : `DRIFT in ${bad} of ${verdicts.length} stages`);
  process.stdout.write(out.join('\n') + '\n');
}
