// `facepipe compare <pipeline|runs...>`: changed parameters × metrics, in four formats.
import { formatCsv, formatJson, formatMarkdown, formatText } from '../compare/format.js';
import { resolveRuns } from '../compare/runs.js';
import { compareRuns } from '../compare/table.js';

export interface CompareOptions {
  targets: string[];
  runsDir: string;
  format: 'text' | 'csv' | 'md' | 'json';
  metrics: string[];
  sort?: string;
  group: boolean;
}

export async function compareCommand(o: CompareOptions): Promise<number> {
  const records = await resolveRuns(o.targets, o.runsDir);
  const c = compareRuns(records, { metrics: o.metrics, ...(o.sort ? { sort: o.sort } : {}), groupSeeds: o.group });
  const text = o.format === 'csv' ? formatCsv(c) : o.format === 'md' ? formatMarkdown(c) : o.format === 'json' ? formatJson(c) : formatText(c, process.stdout.isTTY === true && !process.env.NO_COLOR);
  process.stdout.write(text + '\n');
  return 0;
}
