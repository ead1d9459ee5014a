// A re-run held against a lock: per stage, its key, then its outputs (byte for byte) or its metrics
// (within the declared tolerance). Pure: it gets both sides as data.
import { diffComponents } from '../pipeline/changes.js';
import type { LockedStage } from './lock.js';

export interface StageVerdict {
  stage: string;
  ok: boolean;
  mode: 'exact' | 'metrics' | 'none';
  lines: string[];
}

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

/** `envChanged` downgrades 'exact' to 'metrics' for compute stages run on another backend/CPU. */
export function compareStage(name: string, locked: LockedStage, now: LockedStage, envChanged: string | undefined): StageVerdict {
  const lines: string[] = [];
  if (locked.key !== now.key) {
    const changes = diffComponents(locked.components, now.components).map((c) => c.text);
    return { stage: name, ok: false, mode: locked.compare, lines: [`its key changed (the pipeline, its inputs or facepipe changed):`, ...changes.map((c) => `  ${c}`)] };
  }
  let mode = locked.compare;
  if (mode === 'none') return { stage: name, ok: true, mode, lines: [`not compared (${locked.kind} results depend on the machine)`] };
  if (mode === 'exact' && envChanged && (locked.backend || now.backend)) {
    mode = 'metrics';
    lines.push(`ran on a different setup (${envChanged}): comparing metrics, not bytes`);
  }
  let ok = true;
  if (mode === 'exact') {
    const files = [...new Set([...Object.keys(locked.outputs), ...Object.keys(now.outputs)])].sort();
    for (const f of files) {
      const [a, b] = [locked.outputs[f], now.outputs[f]];
      if (a === b) continue;
      ok = false;
      lines.push(a === undefined ? `new output ${f}` : b === undefined ? `output ${f} is missing` : `${f} differs (${short(a)} → ${short(b)})`);
    }
    if (ok) lines.push(`${files.length} outputs identical`);
  }
  for (const [m, a] of Object.entries(locked.metrics)) {
    const b = now.metrics[m];
    if (typeof a !== 'number' || typeof b !== 'number') continue;
    const within = Math.abs(a - b) <= locked.tolerance;
    if (mode === 'metrics' && !within) ok = false;
    if (a !== b && (mode === 'metrics' || !ok)) lines.push(`metric ${m}: ${a} → ${b}${mode === 'metrics' ? ` (tolerance ${locked.tolerance}${within ? ', within' : ', exceeded'})` : ''}`);
  }
  if (mode === 'metrics' && ok && !lines.some((l) => l.startsWith('metric'))) lines.push('metrics identical');
  return { stage: name, ok, mode, lines };
}
