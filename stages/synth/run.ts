import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Identity as FolderIdentity } from '../../src/data/image-folder.js';
import { samplePairs, type Pair } from '../../src/data/pairs.js';
import { drawIdentities, drawVariation, rngFor, variationScale, type Identity } from '../../src/data/synth-faces.js';
import { renderFace } from '../../src/data/synth-render.js';
import { writeInsightface, type LabeledImage } from '../../src/formats/insightface.js';
import { writeVerificationBin } from '../../src/formats/verification-bin.js';
import { StageFailure, type StageContext } from '../../src/stage-api.js';
import { ordered } from '../../src/util/ordered.js';
import type { SynthParams } from './index.js';

type Ctx = StageContext<SynthParams>;

/** The parameters with every default filled in, as recorded in synth.json. */
interface Resolved {
  identities: number;
  images_per_identity: number;
  holdout_identities: number;
  pairs: number;
  size: number;
  seed: number;
  quality: number;
  difficulty: NonNullable<SynthParams['difficulty']>;
}

// sharp rasterises and encodes on libuv's thread pool: keep every thread busy, with some slack
// for the JS part (photometry, noise) that runs on this thread in between.
const IN_FLIGHT = Math.max(4, 2 * os.availableParallelism());
const BIN = 'holdout.bin';

export async function runSynth(ctx: Ctx): Promise<void> {
  const p = resolve(ctx.params);
  const d = variationScale(p.difficulty);
  const train = drawIdentities(p.seed, 'train', p.identities);
  const holdout = drawIdentities(p.seed, 'holdout', p.holdout_identities);
  const pairs = p.pairs > 0 ? samplePairs(folderView(holdout, p.images_per_identity), p.pairs, rngFor(p.seed, 'pairs')) : [];
  const pairImages = [...new Set(pairs.flatMap((q) => [q.a, q.b]))];
  const total = p.identities * p.images_per_identity + pairImages.length;
  let done = 0;
  const t0 = performance.now();
  const render = (group: string, ids: Identity[], who: number, photo: number): Promise<Buffer> => {
    ctx.signal.throwIfAborted();
    const v = drawVariation(rngFor(p.seed, 'photo', group, who, photo), d);
    return renderFace(ids[who]!.traits, v, p).then((jpeg) => {
      ctx.progress({ done: ++done, total, unit: 'images', note: group });
      return jpeg;
    });
  };

  const jobs = train.flatMap((_, label) => Array.from({ length: p.images_per_identity }, (_, photo) => ({ label, photo })));
  const labeled = ordered(jobs, IN_FLIGHT, async ({ label, photo }): Promise<LabeledImage> => ({ image: await render('train', train, label, photo), label }));
  const written = await writeInsightface(ctx.outDir, labeled, { imageSize: [p.size, p.size] });

  if (pairs.length > 0) {
    const rendered = new Map<string, Buffer>();
    const keys = pairImages.map(parseKey);
    let i = 0;
    for await (const jpeg of ordered(keys, IN_FLIGHT, ({ who, photo }) => render('holdout', holdout, who, photo))) rendered.set(pairImages[i++]!, jpeg);
    const images = pairs.flatMap((q) => [rendered.get(q.a)!, rendered.get(q.b)!]);
    await writeVerificationBin(path.join(ctx.outDir, BIN), { images, issame: pairs.map((q) => q.same) }, { form: 'py3-bytes' });
    await writeFile(path.join(ctx.outDir, 'holdout.pairs.txt'), pairs.map((q) => `${q.a}\t${q.b}\t${q.same ? 1 : 0}\n`).join(''));
  }
  const seconds = (performance.now() - t0) / 1000;
  await writeFile(path.join(ctx.outDir, 'synth.json'), JSON.stringify(describe(p, d, train, holdout, pairs), null, 2) + '\n');
  ctx.log(`rendered ${done} images in ${seconds.toFixed(1)} s (${(done / seconds).toFixed(0)} images/s, ${IN_FLIGHT} in flight)`);
  ctx.metrics({ images: written.numImages, classes: written.numClasses, holdout_identities: holdout.length, pairs: pairs.length, images_per_second: Math.round(done / seconds) });
}

function resolve(params: SynthParams): Resolved {
  const holdout = params.holdout_identities ?? 20;
  const r: Resolved = {
    identities: params.identities ?? 100,
    images_per_identity: params.images_per_identity ?? 20,
    holdout_identities: holdout,
    pairs: params.pairs ?? (holdout >= 2 ? 600 : 0),
    size: params.size ?? 112,
    seed: params.seed ?? 0,
    quality: params.quality ?? 95,
    difficulty: params.difficulty ?? 'normal',
  };
  if (r.pairs > 0 && r.holdout_identities < 2) throw new StageFailure(`pairs: ${r.pairs} needs held-out people to draw from: set holdout_identities to 2 or more, or pairs to 0`);
  if (r.pairs > 0 && r.images_per_identity < 2) throw new StageFailure('same-person pairs need two photos of a person: set images_per_identity to 2 or more, or pairs to 0');
  return r;
}

// Held-out photos are named `h<person>/<photo>` for samplePairs and holdout.pairs.txt.
const keyOf = (who: number, photo: number) => `h${String(who).padStart(4, '0')}/${String(photo).padStart(4, '0')}`;
function parseKey(key: string): { who: number; photo: number } {
  const m = /^h(\d+)\/(\d+)$/.exec(key);
  if (!m) throw new Error(`not a held-out photo key: ${key}`);
  return { who: Number(m[1]), photo: Number(m[2]) };
}

function folderView(ids: Identity[], photos: number): FolderIdentity[] {
  return ids.map((_, who) => ({ name: keyOf(who, 0).split('/')[0]!, images: Array.from({ length: photos }, (_, photo) => keyOf(who, photo)) }));
}

/** synth.json: what was asked for, what was written, and which people were drawn as look-alikes. */
function describe(p: Resolved, d: number, train: Identity[], holdout: Identity[], pairs: Pair[]) {
  const lookAlikes = (ids: Identity[]) => ids.flatMap((id, i) => (id.lookAlikeOf === null ? [] : [[i, id.lookAlikeOf]]));
  return {
    parameters: p,
    variation: d,
    train: { classes: train.length, images: train.length * p.images_per_identity, look_alikes: lookAlikes(train) },
    holdout: {
      identities: holdout.length,
      pairs: pairs.length,
      same_pairs: pairs.filter((q) => q.same).length,
      bin: pairs.length > 0 ? BIN : null,
      look_alikes: lookAlikes(holdout),
    },
    image: { width: p.size, height: p.size, channels: 3, format: 'jpeg', quality: p.quality },
  };
}
