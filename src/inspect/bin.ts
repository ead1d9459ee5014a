// `inspect` of an insightface verification .bin: pairs, balance, and every image's header.
import { imageInfo } from '../formats/jpeg-info.js';
import { readVerificationBin } from '../formats/verification-bin.js';
import { describeImage, type InspectReport } from './report.js';

export async function inspectBin(file: string, head: number): Promise<InspectReport> {
  const t0 = Date.now();
  const set = await readVerificationBin(file);
  const same = set.issame.filter(Boolean).length;
  const sizes = new Map<string, number>();
  let checked = 0;
  let problem: string | undefined;
  for (const [i, img] of set.images.entries()) {
    try {
      const info = imageInfo(img, { file: `image ${i} (pair ${i >> 1})` });
      const k = `${info.width}×${info.height}`;
      sizes.set(k, (sizes.get(k) ?? 0) + 1);
      checked++;
    } catch (e) {
      problem = (e as Error).message;
      break;
    }
  }
  const first = set.issame.slice(0, head).map((s, p) => ({ pair: p, same: String(s), a: describeImage(() => imageInfo(set.images[2 * p]!)), b: describeImage(() => imageInfo(set.images[2 * p + 1]!)) }));
  return {
    file,
    format: 'insightface verification .bin (pickled images + issame)',
    facts: { pairs: set.issame.length, same: same, different: set.issame.length - same, images: set.images.length, sizes: [...sizes].map(([k, n]) => `${k}: ${n}`).join(', ') },
    first,
    integrity: { ok: problem === undefined, checked, seconds: (Date.now() - t0) / 1000, ...(problem ? { problem } : {}) },
  };
}
