import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import sharp from 'sharp';
import { FormatError } from '../../src/formats/errors.js';
import { encodeJpeg } from '../../src/formats/image.js';
import { imageInfo, type ImageInfo } from '../../src/formats/jpeg-info.js';
import { makePng, orlFace, realJpegs, type Sample } from './image-samples.js';

let samples: Sample[];
before(async () => {
  samples = await realJpegs();
});

/** Runs imageInfo expecting a FormatError; returns it. */
function fails(b: Uint8Array, where = {}): FormatError {
  try {
    imageInfo(b, where);
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
  assert.fail('expected a FormatError');
}

const patched = (b: Buffer, at: number, ...bytes: number[]): Buffer => {
  const c = Buffer.from(b);
  c.set(bytes, at);
  return c;
};

describe('real files', () => {
  test('every real JPEG agrees with libvips\' own header reading', async () => {
    for (const s of samples) {
      const info = imageInfo(s.bytes, { file: s.name });
      const m = await sharp(s.bytes).metadata();
      assert.deepEqual([info.format, info.width, info.height, info.components, info.progressive], ['jpeg', m.width, m.height, m.channels, m.isProgressive], s.name);
      if (info.components === 3) assert.equal(info.subsampling, m.chromaSubsampling, s.name);
      assert.equal(info.bitDepth, 8);
    }
  });

  test('insightface records are 112×112 baseline 4:2:0; the TFRecord ones 4:4:4 and grey', () => {
    for (const s of samples.filter((x) => !x.name.startsWith('images.tfrecord'))) {
      assert.deepEqual(imageInfo(s.bytes), { format: 'jpeg', width: 112, height: 112, components: 3, bitDepth: 8, progressive: false, subsampling: '4:2:0' }, s.name);
    }
    const [a, b] = samples.filter((x) => x.name.startsWith('images.tfrecord')).map((x) => imageInfo(x.bytes));
    assert.deepEqual([a!.width, a!.height, a!.subsampling, b!.width, b!.height, b!.components, b!.subsampling], [320, 213, '4:4:4', 194, 239, 1, 'grey']);
  });

  test('ORL PGM', async () => {
    assert.deepEqual(imageInfo(await orlFace(40, 10)), { format: 'pgm', width: 92, height: 112, components: 1, bitDepth: 8, progressive: false, subsampling: null });
  });

  test('JPEGs it writes: progressive, 4:4:4, grey', async () => {
    const px = new Uint8Array(24 * 16 * 3).map((_, i) => (i * 37) & 255);
    assert.deepEqual(imageInfo(await encodeJpeg(px, 24, 16, 3, { progressive: true, subsampling: '4:4:4' })),
      { format: 'jpeg', width: 24, height: 16, components: 3, bitDepth: 8, progressive: true, subsampling: '4:4:4' });
    assert.equal(imageInfo(await encodeJpeg(px.subarray(0, 24 * 16), 24, 16, 1)).subsampling, 'grey');
  });

  test('subsampling names from sampling factors', () => {
    const s = samples[0]!.bytes;
    const sof = s.indexOf('ffc0', 0, 'hex');
    const factors = (y: number, c: number, c2 = c) => imageInfo(patched(s, sof + 11, y, s[sof + 12]!, s[sof + 13]!, c, s[sof + 15]!, s[sof + 16]!, c2)).subsampling;
    assert.deepEqual([factors(0x22, 0x11), factors(0x21, 0x11), factors(0x12, 0x11), factors(0x41, 0x11), factors(0x11, 0x11), factors(0x22, 0x11, 0x21), factors(0x32, 0x21)],
      ['4:2:0', '4:2:2', '4:4:0', '4:1:1', '4:4:4', 'other', 'other']);
  });
});

describe('PNG headers', () => {
  test('colour types, bit depths, interlacing', async () => {
    const cases: [number, number, number][] = [[0, 8, 1], [0, 16, 1], [4, 8, 2], [2, 8, 3], [2, 16, 3], [3, 8, 3], [6, 8, 4]];
    for (const [type, depth, components] of cases) {
      const rows = Buffer.alloc(3 * components * (depth / 8) * 2);
      const info: ImageInfo = imageInfo(makePng(3, 2, type, depth, rows));
      assert.deepEqual([info.format, info.width, info.height, info.components, info.bitDepth, info.progressive], ['png', 3, 2, components, depth, false]);
    }
    const adam7 = await sharp(Buffer.alloc(8 * 8 * 3, 9), { raw: { width: 8, height: 8, channels: 3 } }).png({ progressive: true }).toBuffer();
    assert.equal(imageInfo(adam7).progressive, true);
  });

  test('bad CRC, bad depth, truncation', () => {
    const png = makePng(3, 2, 2, 8, Buffer.alloc(18));
    assert.match(fails(patched(png, 16, 0, 0, 1, 0), { file: 'a.png' }).message, /^a\.png at byte 29: PNG: IHDR CRC/);
    assert.match(fails(png.subarray(0, png.length - 1), { file: 'a.png' }).message, /^a\.png at byte \d+: PNG: no IEND chunk/);
    assert.match(fails(makePng(3, 2, 2, 4, Buffer.alloc(6))).message, /at byte 24: PNG: bit depth 4 with colour type 2/);
    assert.match(fails(png.subarray(0, 20)).message, /at byte 20: PNG: 20 bytes cannot hold/);
    for (let n = 0; n < png.length; n++) assert.ok(fails(png.subarray(0, n)).offset! <= n);
  });
});

describe('adversarial JPEG headers', () => {
  test('every truncation of a real JPEG is a FormatError within the data', () => {
    const s = samples[3]!.bytes;
    for (let n = 0; n < s.length; n++) {
      const e = fails(s.subarray(0, n), { file: 'r.rec', offset: 100 });
      assert.ok(e.message.startsWith('r.rec at byte '), e.message);
      assert.ok(e.offset! >= 100 && e.offset! <= 100 + n, `${n}: ${e.message}`);
    }
  });

  test('every single-byte change in the header gives an answer or a FormatError, never a crash', () => {
    const s = samples[5]!.bytes;
    const sos = s.indexOf('ffda', 0, 'hex') + 14;
    for (let at = 0; at < sos; at++) {
      for (const v of [0x00, 0x01, 0x7f, 0xff, s[at]! ^ 0x10]) {
        try {
          imageInfo(patched(s, at, v));
        } catch (e) {
          assert.ok(e instanceof FormatError, `byte ${at} = ${v}: ${e}`);
          assert.ok(e.offset! >= 0 && e.offset! <= s.length);
        }
      }
    }
  });

  test('specific corruptions name the byte and the problem', () => {
    const s = samples[0]!.bytes;
    const sof = s.indexOf('ffc0', 0, 'hex');
    const dqt = s.indexOf('ffdb', 0, 'hex');
    const sos = s.indexOf('ffda', 0, 'hex');
    const twoFrames = Buffer.concat([s.subarray(0, sos), s.subarray(sof, sof + 2 + s.readUInt16BE(sof + 2)), s.subarray(sos)]);
    const cases: [Buffer, number, RegExp][] = [
      [patched(s, sof + 5, 0, 0), sof + 5, /height 0/],
      [patched(s, sof + 7, 0, 0), sof + 7, /width 0/],
      [patched(s, sof + 9, 5), sof, /does not hold 1\.\.4 components \(it declares 5\)/],
      [patched(s, sof + 11, 0x50), sof + 11, /component 0 has sampling factors 5×0/],
      [patched(s, dqt + 2, 0, 1), dqt + 2, /segment FFDB has length 1/],
      [patched(s, dqt, 0x12), dqt, /expected a marker \(FF xx\) but found byte 12/],
      [patched(s, dqt + 1, 0xda), dqt, /scan \(FF DA\) before any frame header/],
      [patched(s, dqt + 1, 0xd8), dqt, /unexpected marker FFD8/],
      [twoFrames, sos, /second frame header FFC0/],
    ];
    for (const [bytes, offset, re] of cases) {
      const e = fails(bytes, { file: 'f.jpg' });
      assert.match(e.message, re);
      assert.equal(e.offset, offset, e.message);
    }
  });

  test('garbage and other formats', () => {
    let x = 12345;
    const rnd = Buffer.from(Array.from({ length: 4096 }, () => (x = (x * 1103515245 + 12345) & 0x7fffffff) >> 16));
    assert.match(fails(rnd, { file: 'g' }).message, /^g at byte 0: not a JPEG, PNG or PGM image/);
    assert.match(fails(Buffer.from('GIF89a......')).message, /looks like GIF/);
    assert.match(fails(Buffer.from([0xff, 0xd8])).message, /not a JPEG, PNG or PGM/);
    assert.match(fails(Buffer.from('P5 12 x'), { file: 'p' }).message, /^p at byte 6: PGM: expected the height/);
    const orl = Buffer.from('P5 92 112 255\n');
    assert.match(fails(orl, { file: 'p' }).message, /^p at byte 14: PGM: the raster needs 10304 bytes/);
  });

  test('trailing bytes after the end of image are allowed; an EOI only inside APP data is not enough', () => {
    const s = samples[0]!.bytes;
    assert.equal(imageInfo(Buffer.concat([s, Buffer.alloc(64)])).width, 112);
    const app = Buffer.concat([Buffer.from('ffd8ffe10006ffd90000', 'hex'), s.subarray(2, 1000)]);
    assert.match(fails(app).message, /no end-of-image marker/);
  });
});
