// `facepipe runs`: the run records under the runs folder, newest first.
import { listRunRecords } from '../runner/run-record.js';
import { formatDuration } from '../runner/events.js';

export async function runsCommand(runsDir: string, pipeline: string | undefined, json: boolean): Promise<number> {
  const records = await listRunRecords(runsDir, pipeline);
  if (json) {
    process.stdout.write(JSON.stringify(records.map((r) => ({ id: r.id, pipeline: r.pipeline, status: r.status, startedAt: r.startedAt, finishedAt: r.finishedAt ?? null, stages: Object.fromEntries(Object.entries(r.stages).map(([n, s]) => [n, s.status])) })), null, 2) + '\n');
    return 0;
  }
  if (records.length === 0) {
    process.stdout.write(`no runs recorded in ${runsDir}\n`);
    return 0;
  }
  for (const r of records) {
    const secs = r.finishedAt ? (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000 : undefined;
    const counts = new Map<string, number>();
    for (const s of Object.values(r.stages)) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
    const summary = [...counts].map(([k, v]) => `${v} ${k}`).join(', ');
    process.stdout.write(`${r.pipeline}/${r.id}  ${r.status.padEnd(11)} ${secs !== undefined ? formatDuration(secs).padStart(7) : '      ?'}  ${summary}\n`);
  }
  return 0;
}
