// `plan`, `explain` and `status`: what would run and why, without running anything.
import { diffComponents } from '../pipeline/changes.js';
import { canonicalJson } from '../pipeline/key.js';
import { readLock } from '../store/lock.js';
import { prepare, type PrepareOptions, type Prepared } from '../runner/prepare.js';
import { listRunRecords, previousComponents } from '../runner/run-record.js';
import { ConfigError } from '../config/diagnostics.js';

const out = (s = '') => process.stdout.write(s + '\n');

export function printPlan(prep: Prepared, dryRun = false): void {
  const toRun = prep.plan.filter((e) => e.action === 'run');
  out(`${dryRun ? 'dry run: ' : ''}pipeline '${prep.pipeline.name}' (${prep.pipeline.file}): ${prep.plan.length} stages, ${toRun.length} would run`);
  for (const e of prep.plan) {
    const needs = prep.pipeline.stages[e.name]!.needs;
    out(`  ${e.action === 'run' ? '▶ run   ' : '✓ cached'} ${e.name} (${e.kind}, key ${e.key.slice(0, 12)})${needs.length ? ` ← ${needs.join(', ')}` : ''}`);
    for (const r of e.reasons) if (e.action === 'run') out(`             ${r}`);
  }
}

export async function planCommand(o: PrepareOptions, json: boolean): Promise<number> {
  const prep = await prepare(o);
  if (json) out(JSON.stringify({ pipeline: prep.pipeline.name, plan: prep.plan }, null, 2));
  else printPlan(prep);
  return 0;
}

export async function explainCommand(o: PrepareOptions, stage: string, json: boolean): Promise<number> {
  const prep = await prepare(o);
  const k = prep.keys[stage];
  if (!k) {
    throw ConfigError.one({ message: `no stage '${stage}' in ${prep.pipeline.file}`, fix: `stages: ${prep.pipeline.order.join(', ')}` });
  }
  const before = (await previousComponents(o.runsDir, prep.pipeline.name))[stage];
  const changes = before ? diffComponents(before, k.components) : undefined;
  const entry = prep.plan.find((e) => e.name === stage)!;
  if (json) {
    out(JSON.stringify({ stage, key: k.key, components: k.components, action: entry.action, reasons: entry.reasons, changesSinceLastRun: changes ?? null }, null, 2));
    return 0;
  }
  const c = k.components;
  out(`stage '${stage}' — key ${k.key}`);
  out(`  will ${entry.action === 'run' ? 'run' : 'be taken from the store'}: ${entry.reasons.join('; ')}`);
  out(`key components:`);
  out(`  kind:      ${c.kind} (implementation v${c.kindVersion})`);
  out(`  params:    ${canonicalJson(c.params)}`);
  for (const [n, key] of Object.entries(c.upstream)) out(`  upstream:  ${n} = ${key.slice(0, 12)}`);
  for (const [p, d] of Object.entries(c.inputs)) out(`  input:     ${p} = ${d}`);
  out(`changes since the last run:`);
  if (!changes) out('  (no earlier run of this pipeline)');
  else if (changes.length === 0) out('  none — the key is the same as in the last run');
  else for (const ch of changes) out(`  - ${ch.text}`);
  return 0;
}

export async function statusCommand(o: PrepareOptions, json: boolean): Promise<number> {
  const prep = await prepare(o);
  const last = (await listRunRecords(o.runsDir, prep.pipeline.name))[0];
  const rows = [];
  for (const e of prep.plan) {
    const lock = await readLock(prep.layout.locks, e.key);
    const running = lock && !lock.stale ? `running now: pid ${lock.info.pid} on ${lock.info.host} since ${lock.info.startedAt}` : undefined;
    const stale = lock && lock.stale ? `stale lock (${lock.stale}); the next run takes it over` : undefined;
    rows.push({ name: e.name, key: e.key, finished: e.action === 'cached', lock: running ?? stale ?? null, lastRun: last?.stages[e.name]?.status ?? null, reasons: e.reasons });
  }
  if (json) {
    out(JSON.stringify({ pipeline: prep.pipeline.name, lastRun: last?.id ?? null, stages: rows }, null, 2));
    return 0;
  }
  out(`pipeline '${prep.pipeline.name}'${last ? `, last run ${last.id} (${last.status})` : ', never run'}`);
  for (const r of rows) {
    out(`  ${r.finished ? '✓ up to date' : '✗ outdated  '}  ${r.name}  ${r.key.slice(0, 12)}${r.lastRun ? `  last run: ${r.lastRun}` : ''}`);
    if (r.lock) out(`      ${r.lock}`);
    if (!r.finished) for (const why of r.reasons) out(`      ${why}`);
  }
  return 0;
}
