import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { Tensor3D } from '@tensorflow/tfjs';
import { loadTf } from '../../src/backend/tf.js';
import { FormatError } from '../../src/formats/errors.js';
import { decodeImage, encodeJpeg, resizeTo, toChannels, type RawImage } from '../../src/formats/image.js';
import { jpegInfo } from '../../src/formats/jpeg-info.js';
import { decodePgm } from '../../src/formats/pgm.js';
import { makePng, maxAbsDiff, meanAbsDiff, orlFace, pngChunk, realJpegs, type Sample } from './image-samples.js';

type DecodeJpeg = (b: Uint8Array, channels: number, ratio: number, fancyUpscaling: boolean,
  tryRecoverTruncated: boolean, acceptableFraction: number, dctMethod: string) => Tensor3D;

/** libjpeg-turbo's pixels through TF. Note the signature: (bytes, channels, ratio, fancyUpscaling, …). */
let libjpeg: (b: Uint8Array, channels?: number, dct?: string, fancy?: boolean) => { data: Uint8Array; shape: number[] };
let samples: Sample[];
let face: RawImage;

before(async () => {
  const { tf } = await loadTf({ prefer: 'cpu', quiet: true });
  const decodeJpeg = (tf as unknown as { node: { decodeJpeg: DecodeJpeg } }).node.decodeJpeg;
  libjpeg = (b, channels = 3, dct = 'INTEGER_ACCURATE', fancy = true) => {
    const t = decodeJpeg(b, channels, 1, fancy, false, 1, dct);
    try {
      return { data: Uint8Array.from(t.dataSync()), shape: t.shape };
    } finally {
      t.dispose();
    }
  };
  samples = await realJpegs();
  face = await decodeImage(samples[0]!.bytes);
});

const rejects = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: unknown) => e instanceof FormatError && re.test(e.message));

describe('JPEG decode is libjpeg-turbo exact (TF INTEGER_ACCURATE as reference)', () => {
  test('every real JPEG: rec, TFRecord and small_lfw.bin', async () => {
    assert.equal(samples.length, 30);
    for (const s of samples) {
      const img = await decodeImage(s.bytes, { channels: 3, file: s.name });
      const ref = libjpeg(s.bytes);
      assert.deepEqual([img.height, img.width, img.channels], ref.shape, s.name);
      assert.equal(maxAbsDiff(img.data, ref.data), 0, s.name);
    }
  });

  test('the reference is discriminating: TF defaults (INTEGER_FAST) and plain upsampling differ', () => {
    const s = samples[0]!.bytes;
    assert.ok(maxAbsDiff(libjpeg(s, 3, 'INTEGER_FAST').data, libjpeg(s).data) > 0);
    assert.ok(maxAbsDiff(libjpeg(s, 3, 'INTEGER_ACCURATE', false).data, libjpeg(s).data) > 0);
  });

  test('a grey JPEG decodes to 1 channel, or 3 by replication', async () => {
    const grey = samples.find((s) => jpegInfo(s.bytes).components === 1)!;
    const one = await decodeImage(grey.bytes);
    assert.equal(one.channels, 1);
    assert.equal(maxAbsDiff(one.data, libjpeg(grey.bytes, 1).data), 0);
    const three = await decodeImage(grey.bytes, { channels: 3 });
    assert.equal(maxAbsDiff(three.data, libjpeg(grey.bytes, 3).data), 0);
  });

  test('forms it writes: 4:2:0, 4:4:4, progressive, grey, odd sizes', async () => {
    const odd = await resizeTo(face, 113, 77, { fit: 'fill' });
    for (const img of [face, odd, toChannels(odd, 1)]) {
      for (const opts of [{}, { subsampling: '4:4:4' as const }, { progressive: true, quality: 80 }, { quality: 60, subsampling: '4:4:4' as const, progressive: true }]) {
        const jpg = await encodeJpeg(img.data, img.width, img.height, img.channels, opts);
        const got = await decodeImage(jpg);
        assert.equal(maxAbsDiff(got.data, libjpeg(jpg, img.channels).data), 0, `${img.width}×${img.height}×${img.channels} ${JSON.stringify(opts)}`);
      }
    }
  });

  test('an embedded ICC profile is ignored, as libjpeg, cv2 and TF do', async () => {
    const p3 = await sharp(face.data, { raw: { width: 112, height: 112, channels: 3 } }).withIccProfile('p3').jpeg().toBuffer();
    assert.equal(maxAbsDiff((await decodeImage(p3)).data, libjpeg(p3).data), 0);
  });

  test('scan data cut short but ending in FF D9 decodes like libjpeg (a warning, grey fill)', async () => {
    const s = samples[0]!.bytes;
    const cut = Buffer.concat([s.subarray(0, 3000), Buffer.from([0xff, 0xd9])]);
    assert.equal(maxAbsDiff((await decodeImage(cut)).data, libjpeg(cut).data), 0);
  });
});

describe('bad images are FormatErrors naming the file and byte', () => {
  test('truncated JPEG', async () => {
    const s = samples[0]!.bytes;
    await rejects(decodeImage(s.subarray(0, 3000), { file: 'x.rec', offset: 1000 }), /^x\.rec at byte 4000: JPEG: no end-of-image marker/);
  });

  test('CMYK JPEG', async () => {
    const cmyk = await sharp(face.data, { raw: { width: 112, height: 112, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
    await rejects(decodeImage(cmyk, { file: 'c.jpg' }), /^c\.jpg at byte 0: JPEG: CMYK/);
  });

  test('not an image, empty, and a corrupt PNG body', async () => {
    await rejects(decodeImage(Buffer.from('<html>'), { file: 'p' }), /^p at byte 0: not a JPEG, PNG or PGM image: it starts with 3C 68/);
    await rejects(decodeImage(new Uint8Array(0)), /^<bytes> at byte 0: not an image: the data is empty/);
    const png = makePng(4, 4, 0, 8, Buffer.alloc(16, 7));
    const idat = png.indexOf('IDAT') + 6;
    png[idat] ^= 0xff; // inside the zlib stream: header checks pass, inflate fails
    await rejects(decodeImage(png, { file: 'b.png' }), /^b\.png at byte 0: PNG: cannot decode/);
  });
});

describe('PGM', () => {
  test('real ORL P5: 92×112 grey, pixels are the raster bytes', async () => {
    const file = await orlFace(1, 1);
    const raster = file.subarray(file.length - 92 * 112);
    const img = await decodeImage(file, { file: 's1/1.pgm' });
    assert.deepEqual([img.width, img.height, img.channels], [92, 112, 1]);
    for (const i of [0, 1, 91, 92, 5000, 92 * 112 - 1]) assert.equal(img.data[i], raster[i]);
    assert.equal(maxAbsDiff(img.data, raster), 0);
    const rgb = await decodeImage(file, { channels: 3 });
    assert.deepEqual([rgb.data[3 * 92], rgb.data[3 * 92 + 1], rgb.data[3 * 92 + 2]], [raster[92], raster[92], raster[92]]);
  });

  test('P2 with comments and ragged lines equals the P5', async () => {
    const file = await orlFace(7, 3);
    const raster = file.subarray(file.length - 92 * 112);
    const values = Array.from(raster, (v, i) => (i % 17 === 16 ? `${v}\n` : `${v}  `)).join('');
    const p2 = Buffer.from(`P2\n# from s7/3.pgm\n92 # width\n112\n255\n${values}\n`);
    assert.equal(maxAbsDiff((await decodeImage(p2)).data, raster), 0);
  });

  test('maxval below 255 is scaled with rounding; bad values and sizes are FormatErrors', async () => {
    const img = await decodeImage(Buffer.concat([Buffer.from('P5 4 1 15\n'), Buffer.from([0, 7, 8, 15])]));
    assert.deepEqual([...img.data], [0, 119, 136, 255]);
    await rejects(decodeImage(Buffer.concat([Buffer.from('P5 2 1 15\n'), Buffer.from([3, 16])]), { file: 'm.pgm' }), /^m\.pgm at byte 11: PGM: pixel 1 is 16, above maxval 15/);
    await rejects(decodeImage(Buffer.from('P2 2 1 9\n3 x\n'), { file: 'p2' }), /^p2 at byte 11: PGM: expected the value of pixel 1/);
    await rejects(decodeImage(Buffer.from('P5 92 112 255\n\x01\x02'), { file: 't' }), /^t at byte 16: PGM: the raster needs 10304 bytes/);
    assert.throws(() => decodePgm(Buffer.from('P5 2 2 255\n\x01'), { file: 'd', offset: 10 }), /^FormatError: d at byte 22: PGM: the raster needs 4 bytes/);
    await rejects(decodeImage(Buffer.from('P5 2 2 65535\n'), { file: 'w' }), /^w at byte 7: PGM: maxval 65535 is not supported/);
    await rejects(decodeImage(Buffer.from('P6 2 2 255\n'), { file: 'c' }), /^c at byte 0: Netpbm type P6 is not supported/);
  });
});

describe('PNG', () => {
  test('grey, grey+alpha, RGB, RGBA, palette, 16-bit: alpha dropped, 16-bit keeps the high byte', async () => {
    const g = Buffer.from([0, 50, 200, 255]);
    assert.deepEqual([...(await decodeImage(makePng(2, 2, 0, 8, g))).data], [...g]);
    const ga = await decodeImage(makePng(2, 1, 4, 8, Buffer.from([10, 0, 20, 255])));
    assert.deepEqual([ga.channels, ...ga.data], [1, 10, 20]);
    const rgba = await decodeImage(makePng(2, 1, 6, 8, Buffer.from([1, 2, 3, 0, 4, 5, 6, 128])));
    assert.deepEqual([rgba.channels, ...rgba.data], [3, 1, 2, 3, 4, 5, 6]);
    const plte = Buffer.from([9, 8, 7, 200, 100, 50]);
    const pal = await decodeImage(makePng(2, 1, 3, 8, Buffer.from([1, 0]), [pngChunk('PLTE', plte)]));
    assert.deepEqual([pal.channels, ...pal.data], [3, 200, 100, 50, 9, 8, 7]);
    const g16 = await decodeImage(makePng(2, 1, 0, 16, Buffer.from([0x12, 0xff, 0xab, 0x01])));
    assert.deepEqual([g16.channels, ...g16.data], [1, 0x12, 0xab]);
    const rgb16 = await decodeImage(makePng(1, 1, 2, 16, Buffer.from([0x12, 0xff, 0xab, 0x01, 0x7f, 0x80])));
    assert.deepEqual([rgb16.channels, ...rgb16.data], [3, 0x12, 0xab, 0x7f]);
  });

  test('a face survives PNG losslessly, interlaced too', async () => {
    for (const progressive of [false, true]) {
      const png = await sharp(face.data, { raw: { width: 112, height: 112, channels: 3 } }).png({ progressive }).toBuffer();
      assert.equal(maxAbsDiff((await decodeImage(png)).data, face.data), 0);
    }
  });
});

describe('grey ↔ colour', () => {
  test('colour to grey uses cv2 RGB2GRAY weights: red 76, green 150, blue 29, white 255', () => {
    const rgb: RawImage = { data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]), width: 4, height: 1, channels: 3 };
    assert.deepEqual([...toChannels(rgb, 1).data], [76, 150, 29, 255]);
  });
});

describe('JPEG encode', () => {
  test('q95 round trip on every real JPEG: small error; 4:4:4 keeps a 4:4:4 source better', async () => {
    for (const s of samples) {
      const img = await decodeImage(s.bytes, { channels: 3 });
      const again = async (subsampling: '4:2:0' | '4:4:4') => (await decodeImage(await encodeJpeg(img.data, img.width, img.height, 3, { subsampling }))).data;
      const [b420, b444] = [await again('4:2:0'), await again('4:4:4')];
      assert.ok(meanAbsDiff(b420, img.data) < 1.5 && maxAbsDiff(b420, img.data) <= 40, s.name);
      // insightface's images are q95 4:2:0 already: re-encoding them so is nearly idempotent.
      if (jpegInfo(s.bytes).subsampling === '4:2:0') assert.ok(meanAbsDiff(b420, img.data) < 0.5, s.name);
      if (jpegInfo(s.bytes).subsampling === '4:4:4') assert.ok(meanAbsDiff(b444, img.data) < meanAbsDiff(b420, img.data) / 2, s.name);
    }
  });

  test('uses the quantisation tables of insightface\'s q95 datasets, baseline, 4:2:0', async () => {
    const dqt = (b: Buffer) => b.subarray(b.indexOf('ffdb', 0, 'hex'), b.indexOf('ffc0', 0, 'hex'));
    const ours = await encodeJpeg(face.data, 112, 112, 3);
    const info = jpegInfo(ours);
    assert.deepEqual([info.subsampling, info.progressive, info.components], ['4:2:0', false, 3]);
    assert.ok(ours.indexOf('ffc0', 0, 'hex') > 0, 'baseline SOF0');
    for (const s of samples.filter((x) => x.name.startsWith('data_train'))) assert.ok(dqt(s.bytes).equals(dqt(ours)), s.name);
  });

  test('deterministic: same bytes every time, also concurrently', async () => {
    const once = await encodeJpeg(face.data, 112, 112, 3);
    const many = await Promise.all(Array.from({ length: 8 }, () => encodeJpeg(face.data, 112, 112, 3)));
    for (const b of many) assert.ok(b.equals(once));
  });

  test('grey encodes as a 1-component JPEG; bad arguments are RangeErrors', async () => {
    const grey = toChannels(face, 1);
    const jpg = await encodeJpeg(grey.data, 112, 112, 1);
    assert.equal(jpegInfo(jpg).components, 1);
    assert.equal((await decodeImage(jpg)).channels, 1);
    await assert.rejects(encodeJpeg(face.data, 112, 111, 3), RangeError);
    await assert.rejects(encodeJpeg(face.data, 112, 112, 3, { quality: 0 }), RangeError);
  });
});

describe('resizeTo', () => {
  test('ORL 92×112 to 112×112: deterministic, grey kept, constant stays constant', async () => {
    const img = await decodeImage(await orlFace(2, 5));
    const a = await resizeTo(img, 112, 112);
    const b = await resizeTo(img, 112, 112);
    assert.deepEqual([a.width, a.height, a.channels], [112, 112, 1]);
    assert.equal(maxAbsDiff(a.data, b.data), 0);
    const flat = await resizeTo({ data: new Uint8Array(92 * 112 * 3).fill(77), width: 92, height: 112, channels: 3 }, 112, 112);
    assert.ok(flat.data.every((v) => v === 77));
  });

  test('cover crops the centre, fill stretches', async () => {
    // 200×100: black left quarter, white elsewhere. Cover keeps the middle 100 columns: white,
    // but for the filter's reach across the crop edge.
    const data = new Uint8Array(200 * 100).map((_, i) => (i % 200 < 50 ? 0 : 255));
    const src: RawImage = { data, width: 200, height: 100, channels: 1 };
    const cover = await resizeTo(src, 50, 50);
    assert.ok(cover.data.every((v) => v >= 200));
    const fill = await resizeTo(src, 50, 50, { fit: 'fill' });
    assert.equal(fill.data[0], 0);
    assert.equal(fill.data[49], 255);
  });
});

test('autoOrient applies the EXIF orientation only when asked', async () => {
  const jpg = await sharp(Buffer.alloc(20 * 10 * 3, 99), { raw: { width: 20, height: 10, channels: 3 } }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  const plain = await decodeImage(jpg);
  const turned = await decodeImage(jpg, { autoOrient: true });
  assert.deepEqual([plain.width, plain.height, turned.width, turned.height], [20, 10, 10, 20]);
});
