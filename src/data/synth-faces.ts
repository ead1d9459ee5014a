// Synthetic faces for the embedded default dataset: what makes one person (traits, drawn once per
// identity) and what changes from one photo of them to the next (variation, drawn per image).
// Rendering lives in synth-render.ts; everything here is plain seeded numbers, so the dataset
// depends only on the parameters and the seed.
import { createHash } from 'node:crypto';
import { Rng } from '../util/random.js';

export type Rgb = readonly [number, number, number];

export type HairStyle = 'bald' | 'crop' | 'side' | 'fringe' | 'long' | 'curly';
export type BeardKind = 'stubble' | 'moustache' | 'goatee' | 'full';

/** One person. Lengths are in a 112×112 frame with the head centred near (56, 58). */
export interface FaceTraits {
  face: { rx: number; ry: number; jawWidth: number; jawDepth: number; skin: Rgb; blush: number };
  hair: { style: HairStyle; colour: Rgb; line: number; volume: number };
  eyes: { dx: number; y: number; rx: number; ry: number; iris: Rgb; tilt: number };
  brows: { gap: number; thick: number; angle: number; arch: number; len: number };
  nose: { len: number; width: number; nostril: number };
  mouth: { y: number; width: number; smile: number; lip: number; colour: Rgb };
  ears: { size: number; y: number };
  /** Identity-level accessories and marks; a photo may still hide them (see ImageVariation). */
  glasses: { shape: 'round' | 'square'; colour: Rgb; tint: number } | null;
  beard: BeardKind | null;
  mole: { x: number; y: number; r: number } | null;
}

/** Trait groups: a "close" identity re-draws only a couple of them (siblings, look-alikes). */
export const TRAIT_GROUPS = ['face', 'hair', 'eyes', 'brows', 'nose', 'mouth', 'ears', 'extras'] as const;
type Group = (typeof TRAIT_GROUPS)[number];

const u = (rng: Rng, a: number, b: number): number => a + (b - a) * rng.float();
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
/** The colour a fraction `t` of the way from `a` to `b`. */
export const mix = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
const clamp = (v: number) => Math.min(255, Math.max(0, v));
const jitter = (rng: Rng, c: Rgb, d: number): Rgb => [clamp(c[0] + u(rng, -d, d)), clamp(c[1] + u(rng, -d, d)), clamp(c[2] + u(rng, -d, d))];

const SKIN_LIGHT: Rgb = [246, 214, 190];
const SKIN_DARK: Rgb = [92, 60, 44];
const HAIR: readonly Rgb[] = [[24, 20, 18], [62, 40, 26], [110, 72, 40], [200, 160, 92], [150, 62, 30], [150, 150, 150], [232, 222, 200]];
const IRIS: readonly Rgb[] = [[70, 42, 22], [40, 26, 16], [60, 110, 170], [80, 130, 80], [120, 120, 130], [130, 96, 50]];
const STYLES: readonly HairStyle[] = ['bald', 'crop', 'crop', 'side', 'side', 'fringe', 'long', 'long', 'curly'];

function drawGroup(g: Group, rng: Rng, t: FaceTraits): void {
  switch (g) {
    case 'face':
      t.face = { rx: u(rng, 27, 37), ry: u(rng, 35, 45), jawWidth: u(rng, 0.15, 0.75), jawDepth: u(rng, 0.35, 0.95), skin: jitter(rng, mix(SKIN_LIGHT, SKIN_DARK, rng.float()), 10), blush: u(rng, 0, 0.35) };
      return;
    case 'hair':
      t.hair = { style: pick(rng, STYLES), colour: jitter(rng, pick(rng, HAIR), 12), line: u(rng, 6, 16), volume: u(rng, 1, 8) };
      return;
    case 'eyes':
      t.eyes = { dx: u(rng, 10, 17), y: u(rng, -10, -1), rx: u(rng, 4, 7.5), ry: u(rng, 2.2, 4.2), iris: jitter(rng, pick(rng, IRIS), 15), tilt: u(rng, -0.18, 0.18) };
      return;
    case 'brows':
      t.brows = { gap: u(rng, 4.5, 10), thick: u(rng, 1.2, 4), angle: u(rng, -0.35, 0.3), arch: u(rng, -1, 4), len: u(rng, 9, 17) };
      return;
    case 'nose':
      t.nose = { len: u(rng, 8, 17), width: u(rng, 5, 13), nostril: u(rng, 0.8, 2.2) };
      return;
    case 'mouth':
      t.mouth = { y: u(rng, 15, 25), width: u(rng, 10, 24), smile: u(rng, -2.5, 4), lip: u(rng, 1.5, 4.5), colour: jitter(rng, mix([200, 90, 90], [120, 50, 50], rng.float()), 15) };
      return;
    case 'ears':
      t.ears = { size: u(rng, 5, 10), y: u(rng, -4, 6) };
      return;
    case 'extras':
      t.glasses = rng.float() < 0.22 ? { shape: pick(rng, ['round', 'square'] as const), colour: jitter(rng, pick(rng, [[20, 20, 20], [120, 80, 40], [180, 180, 190], [150, 30, 40]] as const), 10), tint: rng.float() < 0.3 ? u(rng, 0.3, 0.7) : 0 } : null;
      t.beard = rng.float() < 0.25 ? pick(rng, ['stubble', 'moustache', 'goatee', 'full'] as const) : null;
      t.mole = rng.float() < 0.3 ? { x: u(rng, -22, 22), y: u(rng, -5, 25), r: u(rng, 0.8, 1.8) } : null;
      return;
    default: {
      const never: never = g;
      throw new Error(`unknown trait group ${String(never)}`);
    }
  }
}

/** A new person, every trait drawn independently. */
export function drawTraits(rng: Rng): FaceTraits {
  const t = {} as FaceTraits;
  for (const g of TRAIT_GROUPS) drawGroup(g, rng, t);
  return t;
}

/** A look-alike of `base`: the same person except for `changes` re-drawn trait groups. */
export function drawLookAlike(rng: Rng, base: FaceTraits, changes: number): FaceTraits {
  const t = structuredClone(base);
  const groups = rng.shuffle([...TRAIT_GROUPS]).slice(0, changes);
  for (const g of groups) drawGroup(g, rng, t);
  return t;
}

/** One photo's departures from the canonical face: pose, expression, clothes, light, camera. */
export interface ImageVariation {
  /** Pose: in-plane rotation (degrees), scale, translation (px), yaw and pitch (-1..1). */
  angle: number;
  scale: number;
  tx: number;
  ty: number;
  yaw: number;
  pitch: number;
  /** Expression: added mouth curvature, eye openness (1 = open). */
  smile: number;
  eyeOpen: number;
  /** Scene: background colours (a vertical gradient) and shirt colour. */
  background: [Rgb, Rgb];
  shirt: Rgb;
  /** Photometry, applied to the rendered pixels: v' = (v-128)·contrast + 128 + brightness + light·(direction·xy), per channel × cast. */
  brightness: number;
  contrast: number;
  light: { angle: number; strength: number };
  cast: Rgb;
  /** Camera: Gaussian-ish pixel noise (σ in grey levels, with its own seed) and Gaussian blur σ (0 = sharp). */
  noise: number;
  noiseSeed: number;
  blur: number;
  /** Something in front of the face (a hand, a scarf, a cup), or nothing. */
  occluder: { x: number; y: number; w: number; h: number; angle: number; colour: Rgb; round: boolean } | null;
  /** Glasses taken off in this photo (for people who wear them). */
  glassesOff: boolean;
}

const GREY: Rgb = [128, 128, 128];

/**
 * Draws one photo's variation. `d` in [0, 1] scales every range: 0 gives the canonical face on
 * mid-grey (only the pixel noise floor stays), 1 the widest variation.
 */
export function drawVariation(rng: Rng, d: number): ImageVariation {
  const s = (a: number) => u(rng, -a, a) * d;
  const colour = (): Rgb => mix(GREY, [u(rng, 20, 235), u(rng, 20, 235), u(rng, 20, 235)], d);
  return {
    angle: s(22),
    scale: 1 + s(0.18),
    tx: s(9),
    ty: s(8),
    yaw: s(0.8),
    pitch: s(0.6),
    smile: s(3),
    eyeOpen: rng.float() < 0.12 * d ? u(rng, 0.1, 0.4) : 1 - u(rng, 0, 0.3) * d,
    background: [colour(), colour()],
    shirt: colour(),
    brightness: s(55),
    contrast: 1 + s(0.45),
    light: { angle: u(rng, 0, 2 * Math.PI), strength: u(rng, 0, 70) * d },
    cast: [1 + s(0.15), 1 + s(0.15), 1 + s(0.15)],
    noise: 2 + u(rng, 0, 12) * d,
    noiseSeed: rng.int(1, 0x7fffffff),
    blur: rng.float() < 0.3 * d ? u(rng, 0.4, 1.6) : 0,
    occluder: rng.float() < 0.25 * d ? { x: u(rng, 25, 87), y: u(rng, 35, 100), w: u(rng, 15, 40), h: u(rng, 10, 30), angle: u(rng, -40, 40), colour: [u(rng, 20, 235), u(rng, 20, 235), u(rng, 20, 235)], round: rng.float() < 0.5 } : null,
    glassesOff: rng.float() < 0.3 * d,
  };
}

/**
 * An independent random stream per (seed, purpose, indices), e.g. rngFor(0, 'image', 'train', 7, 3).
 * Keyed streams rather than one sequence: the held-out people do not change when `identities`
 * does, an image does not change when `images_per_identity` does, and images can be drawn in any
 * order. The 128-bit state comes from sha256, so neighbouring keys give unrelated streams.
 */
export function rngFor(seed: number, ...key: (string | number)[]): Rng {
  const h = createHash('sha256').update(JSON.stringify([seed, ...key])).digest();
  return Rng.fromState([h.readInt32LE(0), h.readInt32LE(4), h.readInt32LE(8), h.readInt32LE(12) | 1]);
}

/** A person, and the earlier person they were drawn to resemble (null: drawn independently). */
export interface Identity {
  traits: FaceTraits;
  lookAlikeOf: number | null;
}

// A quarter of the people resemble someone before them, differing in 2 of the 8 trait groups:
// hard negatives, as siblings and look-alikes are in real data.
const LOOK_ALIKE_RATE = 0.25;
const LOOK_ALIKE_CHANGES = 2;

/** `count` people of one group ('train' or 'holdout'); person i depends only on the seed and i. */
export function drawIdentities(seed: number, group: string, count: number): Identity[] {
  const out: Identity[] = [];
  for (let i = 0; i < count; i++) {
    const rng = rngFor(seed, 'identity', group, i);
    if (i > 0 && rng.float() < LOOK_ALIKE_RATE) {
      const base = rng.int(0, i - 1);
      out.push({ traits: drawLookAlike(rng, out[base]!.traits, LOOK_ALIKE_CHANGES), lookAlikeOf: base });
    } else {
      out.push({ traits: drawTraits(rng), lookAlikeOf: null });
    }
  }
  return out;
}

export type Difficulty = 'easy' | 'normal' | 'hard' | number;

/** How much photos of one person vary, 0..1 (the `d` of drawVariation). */
export const DIFFICULTY_SCALE = { easy: 0.25, normal: 0.5, hard: 0.8 } as const;

export function variationScale(d: Difficulty): number {
  return typeof d === 'number' ? d : DIFFICULTY_SCALE[d];
}
