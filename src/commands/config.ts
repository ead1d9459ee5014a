// `validate` and `config`: check a pipeline, and show it fully resolved.
import { stringify } from 'yaml';
import { loadPipeline } from '../config/pipeline.js';
import type { Override } from '../config/overrides.js';

export async function validateCommand(file: string, overrides: Override[]): Promise<number> {
  const p = await loadPipeline(file, overrides);
  process.stdout.write(`ok: ${file} — pipeline '${p.name}', ${p.order.length} stages (${p.order.join(' → ')})\n`);
  return 0;
}

export async function configCommand(file: string, overrides: Override[], json: boolean): Promise<number> {
  const p = await loadPipeline(file, overrides);
  const resolved = {
    name: p.name,
    config: p.config,
    stages: Object.fromEntries(p.order.map((n) => {
      const s = p.stages[n]!;
      return [n, { uses: s.kind, ...(s.needs.length ? { needs: s.needs } : {}), with: s.params }];
    })),
  };
  process.stdout.write(json ? JSON.stringify(resolved, null, 2) + '\n' : stringify(resolved, { lineWidth: 0 }));
  return 0;
}
