import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scanImageFolder, type Identity } from '../../src/data/image-folder.js';
import { readPairsFile, samplePairs, type Pair } from '../../src/data/pairs.js';
import { FormatError } from '../../src/formats/errors.js';
import { decodeImage, encodeJpeg, resizeTo } from '../../src/formats/image.js';
import { writeInsightface, type LabeledImage } from '../../src/formats/insightface.js';
import { writeVerificationBin } from '../../src/formats/verification-bin.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import { ordered } from '../../src/util/ordered.js';
import { Rng } from '../../src/util/random.js';
import type { PackParams } from './index.js';

type Ctx = StageContext<PackParams>;

// sharp works on libuv's thread pool: a few images in flight keep both cores busy.
const IN_FLIGHT = 4;

export async function runPack(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const root = path.resolve(ctx.baseDir, p.images);
  const folder = await scanImageFolder(root);
  const rng = Rng.seeded(p.seed ?? 0);
  const { train, holdout } = splitHoldout(folder.identities, p.holdout_identities ?? 0, rng);
  const pairs = await choosePairs(ctx, root, folder.identities, holdout, rng);
  const encode = encoder(root, p);
  const total = train.reduce((s, i) => s + i.images.length, 0) + (pairs?.length ?? 0) * 2;
  let done = 0;
  const tick = () => ctx.progress({ done: ++done, total, unit: 'images' });

  const items = train.flatMap((id, label) => id.images.map((rel) => ({ rel, label })));
  const labeled = ordered(items, IN_FLIGHT, async ({ rel, label }): Promise<LabeledImage> => {
    const image = await encode(rel);
    tick();
    return { image, label };
  });
  const written = await writeInsightface(ctx.outDir, labeled, { imageSize: [p.size ?? 112, p.size ?? 112] });

  const binName = p.bin_name ?? 'holdout';
  if (pairs) {
    // An image can be in several pairs: encode it once.
    const cache = new Map<string, Promise<Buffer>>();
    const once = (rel: string) => cache.get(rel) ?? (cache.set(rel, encode(rel)), cache.get(rel)!);
    const images: Buffer[] = [];
    for await (const img of ordered(pairs.flatMap((q) => [q.a, q.b]), IN_FLIGHT, async (rel) => {
      const b = await once(rel);
      tick();
      return b;
    })) images.push(img);
    await writeVerificationBin(path.join(ctx.outDir, `${binName}.bin`), { images, issame: pairs.map((q) => q.same) }, { form: p.bin_form ?? 'py3-bytes' });
    await writeFile(path.join(ctx.outDir, `${binName}.pairs.txt`), pairs.map((q) => `${q.a}\t${q.b}\t${q.same ? 1 : 0}\n`).join(''));
  }
  await writeFile(
    path.join(ctx.outDir, 'pack.json'),
    JSON.stringify({ classes: train.map((id, label) => ({ label, name: id.name, images: id.images.length })), holdout: holdout.map((i) => i.name), ignored: folder.ignored }, null, 2) + '\n',
  );
  ctx.metrics({ images: written.numImages, classes: written.numClasses, holdout_identities: holdout.length, pairs: pairs?.length ?? 0, ignored_files: folder.ignored.length });
}

/** Chooses held-out identities with the seed; the rest keep their sorted order (class ids). */
function splitHoldout(ids: Identity[], n: number, rng: Rng): { train: Identity[]; holdout: Identity[] } {
  if (n >= ids.length) throw new StageFailure(`holdout_identities is ${n}, but the folder has only ${ids.length} identities; at least one must remain for training`);
  const held = new Set(rng.shuffle([...ids.keys()]).slice(0, n));
  return { train: ids.filter((_, i) => !held.has(i)), holdout: ids.filter((_, i) => held.has(i)).sort((a, b) => (a.name < b.name ? -1 : 1)) };
}

async function choosePairs(ctx: Ctx, root: string, all: Identity[], holdout: Identity[], rng: Rng): Promise<Pair[] | undefined> {
  const p = ctx.params;
  if (p.pairs !== undefined && p.pairs_file !== undefined) throw new StageFailure('give either pairs (drawn automatically) or pairs_file, not both');
  if (p.pairs !== undefined) {
    if (holdout.length < 2) throw new StageFailure('automatic pairs are drawn from held-out identities: set holdout_identities to 2 or more');
    return samplePairs(holdout, p.pairs, rng);
  }
  if (p.pairs_file === undefined) return undefined;
  const known = new Set(all.flatMap((i) => i.images));
  const pairs = await readPairsFile(path.resolve(ctx.baseDir, p.pairs_file), (name, n) => {
    const id = all.find((i) => i.name === name);
    const stem = `${name}/${name}_${String(n).padStart(4, '0')}.`;
    return id?.images.find((rel) => rel.startsWith(stem));
  });
  for (const q of pairs) {
    for (const rel of [q.a, q.b]) if (!known.has(rel)) throw new StageFailure(`the pairs file names ${rel}, which is not an image in ${root}`);
  }
  return pairs;
}

/** Reads, decodes, squares and re-encodes one image; errors name the file. */
function encoder(root: string, p: PackParams): (rel: string) => Promise<Buffer> {
  const size = p.size ?? 112;
  return async (rel) => {
    const file = path.join(root, rel);
    try {
      const decoded = await decodeImage(await readFile(file), { channels: 3, file });
      const square = decoded.width === size && decoded.height === size ? decoded : await resizeTo(decoded, size, size, { fit: p.fit ?? 'cover' });
      return await encodeJpeg(square.data, size, size, 3, { quality: p.quality ?? 95, subsampling: '4:2:0' });
    } catch (e) {
      if (e instanceof FormatError) throw new StageFailure(e.message); // it names the file and says what to do
      throw new StageFailure(`${file}: ${(e as Error).message} — remove or replace this image`);
    }
  };
}
