// `inspect` of an MXNet .rec (or its .idx): layout, counts, first records, and a full scan that
// checks every record's framing, its .idx entry, its label and its image header.
import path from 'node:path';
import { FormatError } from '../formats/errors.js';
import { openDataset } from '../formats/insightface.js';
import { imageInfo } from '../formats/jpeg-info.js';
import { describeImage, type InspectReport } from './report.js';

export async function inspectRec(file: string, head: number): Promise<InspectReport> {
  const rec = file.endsWith('.idx') ? file.replace(/\.idx$/, '.rec') : file;
  let ds;
  try {
    ds = await openDataset(rec);
  } catch (e) {
    // Opening already reads the .idx and the layout's records: damage there is a finding too.
    if (!(e instanceof FormatError)) throw e;
    return { file, format: 'MXNet RecordIO', facts: {}, first: [], integrity: { ok: false, checked: 0, seconds: 0, problem: e.message } };
  }
  try {
    const first = [];
    for (const img of await ds.readImages(ds.imageKeys.slice(0, head))) {
      first.push({ key: img.key, label: img.label, offset: img.offset, bytes: img.image.length, image: describeImage(() => imageInfo(img.image)) });
    }
    const facts = {
      layout: ds.layout,
      images: ds.imageKeys.length,
      classes: ds.numClasses,
      property: ds.property ? `${ds.property.numClasses},${ds.property.height},${ds.property.width}` : null,
      idx: path.basename(ds.idxPath),
    };
    const t0 = Date.now();
    let checked = 0;
    try {
      for await (const img of ds.images()) {
        imageInfo(img.image, { file: `record of key ${img.key} at byte ${img.offset}` });
        checked++;
      }
    } catch (e) {
      return { file, format: 'MXNet RecordIO', facts, first, integrity: { ok: false, checked, seconds: (Date.now() - t0) / 1000, problem: (e as Error).message } };
    }
    const missing = checked < ds.imageKeys.length ? `${ds.imageKeys.length - checked} images listed in the .idx were not found in the .rec` : undefined;
    return { file, format: 'MXNet RecordIO', facts, first, integrity: { ok: !missing, checked, seconds: (Date.now() - t0) / 1000, ...(missing ? { problem: missing } : {}) } };
  } finally {
    await ds.close();
  }
}
