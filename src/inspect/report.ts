// What `facepipe inspect` finds in a file: a few facts, the first records, and an integrity verdict.
export interface InspectReport {
  file: string;
  format: string;
  facts: Record<string, string | number | boolean | null>;
  first: Record<string, string | number>[];
  integrity: { ok: boolean; checked: number; seconds: number; problem?: string };
}

export function formatReport(r: InspectReport): string {
  const lines = [`${r.file}: ${r.format}`];
  for (const [k, v] of Object.entries(r.facts)) lines.push(`  ${k}: ${v}`);
  if (r.first.length > 0) {
    lines.push(`  first ${r.first.length} records:`);
    for (const rec of r.first) lines.push(`    ${Object.entries(rec).map(([k, v]) => `${k}=${v}`).join('  ')}`);
  }
  const i = r.integrity;
  lines.push(i.ok ? `  integrity: OK (${i.checked} records checked in ${i.seconds.toFixed(1)} s)` : `  integrity: FAILED after ${i.checked} records: ${i.problem}`);
  return lines.join('\n');
}

/** `what` of a payload for listings: `JPEG 112×112 4:2:0`, or why it is not an image. */
export function describeImage(info: () => { format: string; width: number; height: number; subsampling: string | null }): string {
  try {
    const i = info();
    return `${i.format.toUpperCase()} ${i.width}×${i.height}${i.subsampling ? ` ${i.subsampling}` : ''}`;
  } catch (e) {
    return `not an image (${(e as Error).message})`;
  }
}
