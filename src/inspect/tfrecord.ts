// `inspect` of a TFRecord file: every record's CRCs are checked and every Example decoded.
import { decodeExample, type Example } from '../formats/example.js';
import { imageInfo } from '../formats/jpeg-info.js';
import { readTfRecords } from '../formats/tfrecord.js';
import { describeImage, type InspectReport } from './report.js';

function summarise(ex: Example): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, f] of ex) {
    if (f.kind === 'bytes') out[k] = f.value.length === 1 ? `${f.value[0]!.length} B ${describeImage(() => imageInfo(f.value[0]!))}` : `${f.value.length} byte strings`;
    else if (f.kind === 'int64' || f.kind === 'float') out[k] = f.value.length === 1 ? String(f.value[0]) : `[${f.value.slice(0, 4).join(', ')}${f.value.length > 4 ? ', …' : ''}] (${f.value.length})`;
    else out[k] = 'empty';
  }
  return out;
}

export async function inspectTfRecord(file: string, head: number): Promise<InspectReport> {
  const first: Record<string, string | number>[] = [];
  const features = new Map<string, string>();
  const labels = new Set<string>();
  let [checked, bytes, minLabel, maxLabel] = [0, 0, Infinity, -Infinity];
  const t0 = Date.now();
  const facts = () => ({
    records: checked,
    megabytes: +(bytes / 1e6).toPrecision(3),
    features: [...features].map(([k, v]) => `${k}:${v}`).join(', '),
    distinct_labels: labels.size,
    label_range: labels.size ? `${minLabel}..${maxLabel}` : null,
  });
  try {
    for await (const r of readTfRecords(file)) {
      const ex = decodeExample(r.data, { file, recordOffset: r.offset });
      for (const [k, f] of ex) features.set(k, f.kind);
      const label = ex.get('label');
      if (label?.kind === 'int64' && label.value.length === 1) {
        const v = Number(label.value[0]);
        labels.add(String(v));
        [minLabel, maxLabel] = [Math.min(minLabel, v), Math.max(maxLabel, v)];
      }
      if (first.length < head) first.push({ offset: r.offset, ...summarise(ex) });
      checked++;
      bytes += r.data.length;
    }
  } catch (e) {
    return { file, format: 'TFRecord', facts: facts(), first, integrity: { ok: false, checked, seconds: (Date.now() - t0) / 1000, problem: (e as Error).message } };
  }
  return { file, format: 'TFRecord of tf.train.Example', facts: facts(), first, integrity: { ok: true, checked, seconds: (Date.now() - t0) / 1000 } };
}
