// A re-run held against a lock: per stage, its key, then its outputs (byte for byte) or its metrics
// (within the declared tolerance). Pure: it gets both sides as data.
import { diffComponents } from '../pipeline/changes.js';
import { matchesAny } from './glob.js';
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
  let metricGlobs = locked.checkedMetrics;
  if (mode === 'exact' && envChanged && (locked.backend || now.backend)) {
    mode = 'metrics';
    if (metricGlobs.length === 0) metricGlobs = ['*'];
    lines.push(`ran on a different setup (${envChanged}): comparing metrics, not bytes`);
  }
  let ok = true;
  if (mode === 'exact') {
    const files = [...new Set([...Object.keys(locked.outputs), ...Object.keys(now.outputs)])].filter((f) => matchesAny(f, locked.exactOutputs)).sort();
    for (const f of files) {
      const [a, b] = [locked.outputs[f], now.outputs[f]];
      if (a === b) continue;
      ok = false;
      lines.push(a === undefined ? `new output ${f}` : b === undefined ? `output ${f} is missing` : `${f} differs (${short(a)} → ${short(b)})`);
    }
    if (ok && files.length > 0) lines.push(`${files.length} ${files.length === 1 ? 'output' : 'outputs'} identical`);
  }
  let checked = 0;
  for (const [m, a] of Object.entries(locked.metrics)) {
    const b = now.metrics[m];
    if (typeof a !== 'number' || !matchesAny(m, metricGlobs)) continue;
    checked++;
    const within = typeof b === 'number' && Math.abs(a - b) <= locked.tolerance;
    if (!within) ok = false;
    if (a !== b) lines.push(`metric ${m}: ${a} → ${b ?? '(missing)'} (tolerance ${locked.tolerance}${within ? ', within' : ', exceeded'})`);
  }
  if (checked > 0 && !lines.some((l) => l.startsWith('metric'))) lines.push(`${checked} ${checked === 1 ? 'metric' : 'metrics'} identical`);
  return { stage: name, ok, mode, lines };
}
