// Verification pairs: sampled automatically (balanced, seeded) from held-out identities, or read
// from a list. Pairs are laid out as LFW's are — each of the 10 contiguous folds holds its share of
// same-identity pairs followed by different-identity pairs — because insightface's protocol
// splits pairs into 10 contiguous folds.
import { readFile } from 'node:fs/promises';
import { StageFailure } from '../stage-api.js';
import type { Rng } from '../util/random.js';
import type { Identity } from './image-folder.js';

export interface Pair {
  a: string;
  b: string;
  same: boolean;
}

const FOLDS = 10;

/** `count` pairs, half same-identity (the odd one out is a same pair), drawn without repeats. */
export function samplePairs(identities: Identity[], count: number, rng: Rng): Pair[] {
  const nSame = Math.ceil(count / 2);
  const nDiff = count - nSame;
  const multi = identities.filter((i) => i.images.length >= 2);
  const possibleSame = multi.reduce((s, i) => s + (i.images.length * (i.images.length - 1)) / 2, 0);
  const sizes = identities.map((i) => i.images.length);
  const all = sizes.reduce((s, n) => s + n, 0);
  const possibleDiff = (all * all - sizes.reduce((s, n) => s + n * n, 0)) / 2;
  if (possibleSame < nSame || possibleDiff < nDiff) {
    throw new StageFailure(
      `${count} pairs need ${nSame} distinct same-identity and ${nDiff} different-identity pairs, but the held-out identities allow only ${possibleSame} and ${possibleDiff}: ask for fewer pairs or hold out more identities`,
    );
  }
  const same = draw(nSame, () => {
    const id = multi[rng.int(0, multi.length - 1)]!;
    const i = rng.int(0, id.images.length - 1);
    const j = (i + rng.int(1, id.images.length - 1)) % id.images.length;
    return { a: id.images[i]!, b: id.images[j]!, same: true };
  });
  const diff = draw(nDiff, () => {
    const x = rng.int(0, identities.length - 1);
    const y = (x + rng.int(1, identities.length - 1)) % identities.length;
    const [p, q] = [identities[x]!, identities[y]!];
    return { a: p.images[rng.int(0, p.images.length - 1)]!, b: q.images[rng.int(0, q.images.length - 1)]!, same: false };
  });
  return interleaveFolds(same, diff);
}

// Rejection sampling: the request was checked against what exists; the cap on tries only matters
// when it comes close to that limit.
function draw(n: number, next: () => Pair): Pair[] {
  const seen = new Set<string>();
  const out: Pair[] = [];
  for (let tries = 0; out.length < n; tries++) {
    if (tries > 1000 * n + 10_000) throw new StageFailure(`could not draw ${n} distinct pairs: too few images; ask for fewer pairs`);
    const p = next();
    const k = p.a < p.b ? `${p.a}\n${p.b}` : `${p.b}\n${p.a}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(p);
  }
  return out;
}

export function interleaveFolds(same: Pair[], diff: Pair[]): Pair[] {
  const out: Pair[] = [];
  const slice = (xs: Pair[], f: number) => xs.slice(Math.floor((f * xs.length) / FOLDS), Math.floor(((f + 1) * xs.length) / FOLDS));
  for (let f = 0; f < FOLDS; f++) out.push(...slice(same, f), ...slice(diff, f));
  return out;
}

/**
 * A pairs list: `path_a path_b 1|0` per line (paths relative to the image folder), or LFW's
 * pairs.txt (`name n1 n2` / `name1 n1 name2 n2`, an optional `folds size` header), whose images
 * are `name/name_NNNN.<ext>`. Blank lines and `#` comments are skipped.
 */
export async function readPairsFile(file: string, resolveLfw: (name: string, n: number) => string | undefined): Promise<Pair[]> {
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new StageFailure(`cannot read the pairs file ${file}: ${e.message}`);
  });
  const pairs: Pair[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const f = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    const where = `${file}:${i + 1}`;
    const isInt = (s: string | undefined) => s !== undefined && /^\d+$/.test(s);
    if (f.length === 0 || (i === 0 && f.length === 2 && f.every(isInt))) return;
    const lfw = (name: string, n: string) => resolveLfw(name, Number(n)) ?? fail(where, `no image ${name}/${name}_${n.padStart(4, '0')}.* in the image folder`);
    if (f.length === 3 && isInt(f[1]) && isInt(f[2])) pairs.push({ a: lfw(f[0]!, f[1]!), b: lfw(f[0]!, f[2]!), same: true });
    else if (f.length === 4 && isInt(f[1]) && isInt(f[3])) pairs.push({ a: lfw(f[0]!, f[1]!), b: lfw(f[2]!, f[3]!), same: false });
    else if (f.length === 3 && /^(1|0|true|false)$/i.test(f[2]!)) pairs.push({ a: f[0]!, b: f[1]!, same: /^(1|true)$/i.test(f[2]!) });
    else fail(where, `cannot read '${raw.trim()}': expected "path_a path_b 1|0" or an LFW pairs.txt line`);
  });
  if (pairs.length === 0) throw new StageFailure(`${file} lists no pairs`);
  return pairs;
}

function fail(where: string, message: string): never {
  throw new StageFailure(`${where}: ${message}`);
}
