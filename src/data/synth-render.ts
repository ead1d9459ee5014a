// Draws a synthetic face (synth-faces.ts) as SVG, rasterises it with sharp (librsvg), applies the
// photo's lighting and camera noise to the pixels and encodes a JPEG. A pure function of its
// arguments: librsvg's rasteriser and libjpeg-turbo are deterministic for a fixed sharp build, and
// the noise has its own seed, so any number of images can be rendered at once in any order.
import sharp from 'sharp';
import { encodeJpeg } from '../formats/image.js';
import { mix, type FaceTraits, type ImageVariation, type Rgb } from './synth-faces.js';

/** The drawing's own frame; the SVG is scaled to the requested size. */
const FRAME = 112;
const CX = 56;
const CY = 56;

const n = (v: number): string => (Math.round(v * 100) / 100).toString();
const rgb = (c: Rgb, k = 1): string => `rgb(${c.map((v) => Math.max(0, Math.min(255, Math.round(v * k)))).join(',')})`;
const BLACK: Rgb = [0, 0, 0];

/** The encoded JPEG of `traits` as seen in photo `v`. */
export async function renderFace(traits: FaceTraits, v: ImageVariation, opts: { size: number; quality: number }): Promise<Buffer> {
  const { size } = opts;
  let img = sharp(Buffer.from(faceSvg(traits, v, size)));
  // sharp's Gaussian needs sigma ≥ 0.3; a blur that small is invisible at small sizes anyway.
  const sigma = v.blur * (size / FRAME);
  if (sigma >= 0.3) img = img.blur(sigma);
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(`librsvg rendered ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`);
  }
  photometry(data, size, v);
  return encodeJpeg(data, size, size, 3, { quality: opts.quality, subsampling: '4:2:0' });
}

/** Lighting, colour cast and sensor noise, in place. Noise is Gaussian-ish (sum of three uniforms). */
function photometry(px: Uint8Array, size: number, v: ImageVariation): void {
  const [lx, ly] = [Math.cos(v.light.angle) * v.light.strength, Math.sin(v.light.angle) * v.light.strength];
  let s = v.noiseSeed >>> 0 || 1;
  // xorshift32: the per-pixel draws are the hot loop, too many for the Rng's 64-bit generator.
  const uni = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), (s >>> 0) / 4294967296);
  const sigma2 = v.noise * 2; // (u1+u2+u3-1.5) has σ 0.5
  for (let y = 0, i = 0; y < size; y++) {
    const ny = (2 * y) / (size - 1) - 1;
    for (let x = 0; x < size; x++) {
      const nx = (2 * x) / (size - 1) - 1;
      const shade = 128 + v.brightness + lx * nx + ly * ny;
      for (let c = 0; c < 3; c++, i++) {
        const val = ((px[i]! - 128) * v.contrast + shade) * v.cast[c]! + (uni() + uni() + uni() - 1.5) * sigma2;
        px[i] = val < 0 ? 0 : val > 255 ? 255 : Math.round(val);
      }
    }
  }
}

/** The SVG document of one photo, `size` pixels square. */
export function faceSvg(t: FaceTraits, v: ImageVariation, size: number): string {
  const { rx, ry } = t.face;
  const pose = `translate(${n(v.tx)} ${n(v.ty)}) rotate(${n(v.angle)} ${CX} ${CY}) translate(${CX} ${CY}) scale(${n(v.scale)}) translate(${-CX} ${-CY})`;
  // Yaw narrows the head and slides the features by their depth; pitch does the same vertically.
  const head = `translate(${CX} ${CY}) scale(${n(1 - 0.2 * Math.abs(v.yaw))} ${n(1 - 0.1 * Math.abs(v.pitch))}) translate(${-CX} ${-CY})`;
  const at = (depth: number) => ({ dx: v.yaw * depth, dy: v.pitch * depth * 0.7 });
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${FRAME} ${FRAME}">`,
    `<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${rgb(v.background[0])}"/><stop offset="1" stop-color="${rgb(v.background[1])}"/></linearGradient>`,
    `<radialGradient id="skin" cx="${n(0.5 + v.yaw * 0.08)}" cy="0.42" r="0.62"><stop offset="0" stop-color="${rgb(t.face.skin, 1.06)}"/><stop offset="0.6" stop-color="${rgb(t.face.skin)}"/><stop offset="1" stop-color="${rgb(t.face.skin, 0.78)}"/></radialGradient>`,
    `<clipPath id="face"><path d="${facePath(rx, ry, t)}"/></clipPath></defs>`,
    `<rect width="${FRAME}" height="${FRAME}" fill="url(#bg)"/>`,
    `<g transform="${pose}">`,
    body(t, v),
    `<g transform="${head}">`,
    ears(t, v),
    `<path d="${facePath(rx, ry, t)}" fill="url(#skin)"/>`,
    blush(t, at(4).dx),
    beard(t, v, at(5)),
    eyes(t, v, at(6)),
    nose(t, at(9)),
    mouth(t, v, at(5)),
    t.mole ? `<circle cx="${n(CX + t.mole.x + at(6).dx)}" cy="${n(CY + t.mole.y + at(6).dy)}" r="${n(t.mole.r)}" fill="rgb(78,48,34)"/>` : '',
    hairFront(t),
    t.glasses && !v.glassesOff ? glasses(t, v, at(7)) : '',
    '</g></g>',
    occluder(v),
    '</svg>',
  ];
  return parts.join('');
}

function facePath(rx: number, ry: number, t: FaceTraits): string {
  const k = 0.5523; // cubic Bézier approximation of a quarter ellipse
  const { jawWidth: jw, jawDepth: jd } = t.face;
  return (
    `M${n(CX)} ${n(CY - ry)}C${n(CX + k * rx)} ${n(CY - ry)} ${n(CX + rx)} ${n(CY - k * ry)} ${n(CX + rx)} ${n(CY)}` +
    `C${n(CX + rx)} ${n(CY + ry * jd)} ${n(CX + rx * jw)} ${n(CY + ry)} ${n(CX)} ${n(CY + ry)}` +
    `C${n(CX - rx * jw)} ${n(CY + ry)} ${n(CX - rx)} ${n(CY + ry * jd)} ${n(CX - rx)} ${n(CY)}` +
    `C${n(CX - rx)} ${n(CY - k * ry)} ${n(CX - k * rx)} ${n(CY - ry)} ${n(CX)} ${n(CY - ry)}Z`
  );
}

/** Shoulders, long hair falling behind them, and the neck. */
function body(t: FaceTraits, v: ImageVariation): string {
  const { rx, ry } = t.face;
  const base = CY + ry * 0.85;
  const shoulders = `<path d="M${n(CX - 70)} 140Q${n(CX - 62)} ${n(base + 10)} ${n(CX - rx * 0.5)} ${n(base + 6)}L${n(CX + rx * 0.5)} ${n(base + 6)}Q${n(CX + 62)} ${n(base + 10)} ${n(CX + 70)} 140Z" fill="${rgb(v.shirt)}"/>`;
  const long = t.hair.style === 'long' ? `<rect x="${n(CX - rx - 6)}" y="${n(CY - ry * 0.7)}" width="${n(2 * rx + 12)}" height="${n(ry * 1.9)}" rx="10" fill="${rgb(t.hair.colour, 0.9)}"/>` : '';
  const neck = `<rect x="${n(CX - rx * 0.42)}" y="${n(CY + ry * 0.4)}" width="${n(rx * 0.84)}" height="${n(ry * 0.9)}" fill="${rgb(t.face.skin, 0.82)}"/>`;
  return shoulders + long + neck;
}

function ears(t: FaceTraits, v: ImageVariation): string {
  const { rx } = t.face;
  // Turning the head hides the ear on the side it turns towards and shows the other one more.
  return [-1, 1]
    .map((side) => {
      const w = t.ears.size * 0.55 * Math.max(0.05, 1 - side * v.yaw);
      const x = CX + side * (rx + w * 0.3) - v.yaw * 3;
      const y = CY + t.ears.y;
      return `<ellipse cx="${n(x)}" cy="${n(y)}" rx="${n(w)}" ry="${n(t.ears.size)}" fill="${rgb(t.face.skin, 0.9)}"/><ellipse cx="${n(x)}" cy="${n(y)}" rx="${n(w * 0.45)}" ry="${n(t.ears.size * 0.55)}" fill="${rgb(t.face.skin, 0.7)}"/>`;
    })
    .join('');
}

function blush(t: FaceTraits, dx: number): string {
  if (t.face.blush < 0.05) return '';
  return [-1, 1].map((s) => `<ellipse cx="${n(CX + s * t.face.rx * 0.55 + dx)}" cy="${n(CY + 9)}" rx="6" ry="3.5" fill="rgb(225,105,100)" fill-opacity="${n(t.face.blush)}"/>`).join('');
}

type Shift = { dx: number; dy: number };

function eyeCentre(t: FaceTraits, side: number, at: Shift): [number, number] {
  return [CX + side * t.eyes.dx + at.dx, CY + t.eyes.y + at.dy];
}

function eyes(t: FaceTraits, v: ImageVariation, at: Shift): string {
  const e = t.eyes;
  const browColour = rgb(mix(t.hair.colour, BLACK, 0.35));
  return [-1, 1]
    .map((side) => {
      const [x, y] = eyeCentre(t, side, at);
      // The eye on the side the head turns towards is foreshortened.
      const rx = e.rx * (1 - 0.35 * Math.max(0, side * v.yaw));
      const ry = e.ry * v.eyeOpen;
      const iris = Math.min(ry, rx) * 0.95;
      const gaze = v.yaw * 1.5;
      const tilt = (-side * e.tilt * 180) / Math.PI;
      const b = t.brows;
      const by = y - e.ry - b.gap;
      const [x0, x1] = [x - (side * b.len) / 2, x + (side * b.len) / 2];
      return (
        `<g transform="rotate(${n(tilt)} ${n(x)} ${n(y)})"><ellipse cx="${n(x)}" cy="${n(y)}" rx="${n(rx)}" ry="${n(Math.max(0.3, ry))}" fill="rgb(238,236,230)"/>` +
        `<circle cx="${n(x + gaze)}" cy="${n(y)}" r="${n(iris)}" fill="${rgb(e.iris)}"/><circle cx="${n(x + gaze)}" cy="${n(y)}" r="${n(iris * 0.45)}" fill="rgb(12,10,10)"/>` +
        `<path d="M${n(x - rx)} ${n(y)}Q${n(x)} ${n(y - 2 * Math.max(0.3, ry))} ${n(x + rx)} ${n(y)}" fill="none" stroke="${rgb(t.face.skin, 0.35)}" stroke-width="1"/></g>` +
        `<path d="M${n(x0)} ${n(by)}Q${n(x)} ${n(by - b.arch)} ${n(x1)} ${n(by - b.angle * b.len)}" fill="none" stroke="${browColour}" stroke-width="${n(b.thick)}" stroke-linecap="round"/>`
      );
    })
    .join('');
}

function noseTip(t: FaceTraits, at: Shift): [number, number] {
  return [CX + at.dx, CY + t.eyes.y + 2 + t.nose.len + at.dy];
}

function nose(t: FaceTraits, at: Shift): string {
  const { width: w, len, nostril } = t.nose;
  const [x, tip] = noseTip(t, at);
  const line = rgb(t.face.skin, 0.62);
  return (
    `<path d="M${n(x - 1)} ${n(tip - len)}Q${n(x - w * 0.2)} ${n(tip - len * 0.4)} ${n(x - w / 2)} ${n(tip - 1)}" fill="none" stroke="${line}" stroke-width="1.2"/>` +
    `<path d="M${n(x - w / 2)} ${n(tip - 1)}Q${n(x)} ${n(tip + 3)} ${n(x + w / 2)} ${n(tip - 1)}" fill="none" stroke="${line}" stroke-width="1.2"/>` +
    [-1, 1].map((s) => `<ellipse cx="${n(x + s * w * 0.22)}" cy="${n(tip)}" rx="${n(nostril)}" ry="${n(nostril * 0.6)}" fill="${rgb(t.face.skin, 0.4)}"/>`).join('')
  );
}

function mouthCentre(t: FaceTraits, at: Shift): [number, number] {
  const [, tip] = noseTip(t, at);
  // Below the nose and above the chin, whatever the drawn proportions.
  return [CX + at.dx, Math.min(CY + t.face.ry - 7, Math.max(CY + t.mouth.y + at.dy, tip + 5))];
}

function mouth(t: FaceTraits, v: ImageVariation, at: Shift): string {
  const [x, y] = mouthCentre(t, at);
  const half = (t.mouth.width / 2) * (1 - 0.15 * Math.abs(v.yaw));
  const smile = t.mouth.smile + v.smile;
  const lip = t.mouth.lip;
  const [lx, rx, cy] = [x - half, x + half, y - smile];
  return (
    `<path d="M${n(lx)} ${n(cy)}Q${n(x)} ${n(y - lip)} ${n(rx)} ${n(cy)}Q${n(x)} ${n(y + lip * 1.3 + smile)} ${n(lx)} ${n(cy)}Z" fill="${rgb(t.mouth.colour)}"/>` +
    `<path d="M${n(lx)} ${n(cy)}Q${n(x)} ${n(y + smile * 0.6)} ${n(rx)} ${n(cy)}" fill="none" stroke="${rgb(t.mouth.colour, 0.5)}" stroke-width="1"/>`
  );
}

function beard(t: FaceTraits, v: ImageVariation, at: Shift): string {
  if (!t.beard) return '';
  const [x, y] = mouthCentre(t, at);
  const hair = rgb(t.hair.colour, 0.85);
  const w = t.mouth.width;
  const chin = CY + t.face.ry;
  switch (t.beard) {
    case 'moustache':
      return `<path d="M${n(x - w * 0.6)} ${n(y + 1)}Q${n(x)} ${n(y - 8)} ${n(x + w * 0.6)} ${n(y + 1)}Q${n(x)} ${n(y - 3)} ${n(x - w * 0.6)} ${n(y + 1)}Z" fill="${hair}"/>`;
    case 'goatee':
      return `<ellipse cx="${n(x)}" cy="${n(y + (chin - y) * 0.55)}" rx="${n(w * 0.35)}" ry="${n((chin - y) * 0.45)}" fill="${hair}"/>`;
    case 'stubble':
    case 'full': {
      const top = CY + t.face.ry * 0.05;
      const opacity = t.beard === 'full' ? 0.9 : 0.28;
      return `<g clip-path="url(#face)"><path d="M${n(CX - 60)} ${n(top)}L${n(x - w * 0.7)} ${n(top)}Q${n(x)} ${n(y - 9 - Math.abs(v.smile))} ${n(x + w * 0.7)} ${n(top)}L${n(CX + 60)} ${n(top)}L${n(CX + 60)} 130L${n(CX - 60)} 130Z" fill="${hair}" fill-opacity="${opacity}"/></g>`;
    }
    default: {
      const never: never = t.beard;
      throw new Error(`unknown beard ${String(never)}`);
    }
  }
}

/** Hair over the forehead; its lowest line stays above the brows so that they remain visible. */
function hairFront(t: FaceTraits): string {
  const { rx, ry } = t.face;
  const h = t.hair;
  if (h.style === 'bald') {
    return [-1, 1].map((s) => `<ellipse cx="${n(CX + s * rx * 0.96)}" cy="${n(CY - ry * 0.15)}" rx="3" ry="8" fill="${rgb(h.colour)}"/>`).join('');
  }
  const browTop = CY + t.eyes.y - t.eyes.ry - t.brows.gap - Math.max(0, t.brows.arch) - t.brows.thick;
  const line = Math.min(CY - ry + h.line, browTop - 3);
  const side = CY - ry * 0.15;
  const [L, R] = [`${n(CX - rx - 1.5)} ${n(side)}`, `${n(CX + rx + 1.5)} ${n(side)}`];
  const top = `M${L}A${n(rx + 1.5)} ${n(ry * 0.85 + h.volume)} 0 0 1 ${R}`;
  let back: string;
  switch (h.style) {
    case 'crop':
    case 'curly':
      back = `Q${n(CX + rx * 0.95)} ${n(line)} ${n(CX + rx * 0.5)} ${n(line)}Q${n(CX)} ${n(line - 3)} ${n(CX - rx * 0.5)} ${n(line)}Q${n(CX - rx * 0.95)} ${n(line)} ${L}`;
      break;
    case 'side':
    case 'long':
      back = `C${n(CX + rx * 0.6)} ${n(line + 4)} ${n(CX - rx * 0.2)} ${n(line - 8)} ${n(CX - rx * 0.3)} ${n(line - 5)}Q${n(CX - rx)} ${n(line)} ${L}`;
      break;
    case 'fringe':
      back = `L${n(CX + rx * 0.85)} ${n(line + 2)}Q${n(CX)} ${n(line + 5)} ${n(CX - rx * 0.85)} ${n(line + 2)}Z`;
      break;
    default: {
      const never: never = h.style;
      throw new Error(`unknown hair style ${String(never)}`);
    }
  }
  const curls =
    h.style === 'curly'
      ? Array.from({ length: 9 }, (_, i) => {
          const a = Math.PI * (1.05 + (0.9 * i) / 8);
          return `<circle cx="${n(CX + (rx + 1) * Math.cos(a))}" cy="${n(side + (ry * 0.85 + h.volume) * Math.sin(a))}" r="${n(3 + h.volume * 0.4)}" fill="${rgb(h.colour)}"/>`;
        }).join('')
      : '';
  return `<path d="${top}${back}" fill="${rgb(h.colour)}"/>${curls}`;
}

function glasses(t: FaceTraits, v: ImageVariation, at: Shift): string {
  const g = t.glasses!;
  const [w, h] = [t.eyes.rx + 3, t.eyes.ry + 4];
  const stroke = `stroke="${rgb(g.colour)}" stroke-width="1.5" fill="rgb(10,10,20)" fill-opacity="${n(g.tint)}"`;
  const lenses = [-1, 1].map((side) => {
    const [x, y] = eyeCentre(t, side, at);
    const ww = w * (1 - 0.3 * Math.max(0, side * v.yaw));
    return g.shape === 'round' ? `<ellipse cx="${n(x)}" cy="${n(y)}" rx="${n(ww)}" ry="${n(h)}" ${stroke}/>` : `<rect x="${n(x - ww)}" y="${n(y - h)}" width="${n(2 * ww)}" height="${n(2 * h)}" rx="2" ${stroke}/>`;
  });
  const [[lx, y], [rx]] = [eyeCentre(t, -1, at), eyeCentre(t, 1, at)];
  const bridge = `<path d="M${n(lx + w * 0.9)} ${n(y - 1)}Q${n((lx + rx) / 2)} ${n(y - 4)} ${n(rx - w * 0.9)} ${n(y - 1)}" fill="none" stroke="${rgb(g.colour)}" stroke-width="1.5"/>`;
  return lenses.join('') + bridge;
}

function occluder(v: ImageVariation): string {
  const o = v.occluder;
  if (!o) return '';
  const fill = `fill="${rgb(o.colour)}" stroke="${rgb(o.colour, 0.6)}" stroke-width="1"`;
  const shape = o.round ? `<ellipse cx="0" cy="0" rx="${n(o.w / 2)}" ry="${n(o.h / 2)}" ${fill}/>` : `<rect x="${n(-o.w / 2)}" y="${n(-o.h / 2)}" width="${n(o.w)}" height="${n(o.h)}" rx="3" ${fill}/>`;
  return `<g transform="translate(${n(o.x)} ${n(o.y)}) rotate(${n(o.angle)})">${shape}</g>`;
}
