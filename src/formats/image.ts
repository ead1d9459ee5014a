// Image decode/encode/resize for the face pipeline, on sharp (libvips + mozjpeg's libjpeg-turbo
// core). Chosen over @jsquash/jpeg by measurement (bench/jpeg.ts): sharp's decode is pixel-identical
// to libjpeg-turbo's default (JDCT_ISLOW, fancy upsampling — TF INTEGER_ACCURATE, cv2, Pillow) on
// every form tried, 4:4:0 included; its q95 encode is scan-for-scan what cv2.imencode writes; it
// reads PNG and resizes. @jsquash/jpeg decodes 1.5–3× faster but is off by up to 2 on 4:4:0,
// returns truncated JPEGs as if whole, aborts on CMYK, and encodes 5–7× slower (trellis always on).
//
// Threads: sharp has no synchronous API. A 112×112 decode costs ~75 µs on the calling JS thread
// and ~400 µs on libuv's pool and libvips' threads, which all worker_threads of a process share.
// Worker threads are safe (on glibc Linux import sharp in the main thread first, lovell/sharp#2263)
// but parallelise only the JS part: keep several calls in flight, UV_THREADPOOL_SIZE ≥ cores.
import sharp, { type OutputInfo } from 'sharp';
import { formatError, imageInfo, type ImageInfo, type Where } from './jpeg-info.js';
import { decodePgm } from './pgm.js';

export type Channels = 1 | 3;

/** Pixels in HWC order: grey, or RGB. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: Channels;
}

export interface DecodeOptions extends Where {
  /** 3 replicates grey; 1 converts colour like cv2.cvtColor(RGB2GRAY). Default: the image's own. */
  channels?: Channels;
  /** Apply the EXIF orientation (as cv2.imread does; libjpeg, Pillow and TF do not). Default false. */
  autoOrient?: boolean;
}

/**
 * Decodes a JPEG, PNG or 8-bit PGM. Alpha is dropped (not composited), 16-bit PNG samples keep
 * their high byte, embedded ICC profiles are ignored — all as cv2.imread/TF decode them.
 * Corrupt, truncated, CMYK and 12-bit JPEGs are FormatErrors naming `file` and the byte offset.
 */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<RawImage> {
  const info = imageInfo(bytes, opts);
  const image = info.format === 'pgm' ? decodePgm(bytes, opts) : await decodeWithSharp(bytes, info, opts);
  return toChannels(image, opts.channels ?? image.channels);
}

// JPEG/PNG with 1 or 2 components: grey, or grey + alpha.
const isGrey = (info: ImageInfo): boolean => info.components <= 2;

async function decodeWithSharp(bytes: Uint8Array, info: ImageInfo, opts: DecodeOptions): Promise<RawImage> {
  if (info.format === 'jpeg') checkJpegDecodable(info, opts);
  const grey = isGrey(info);
  // libvips rounds grey16 → grey8 while cv2 and libpng's strip_16 keep the high byte, which its
  // sRGB path also does: decode 16-bit grey as RGB and keep one channel.
  const viaRgb = !grey || info.bitDepth === 16;
  let out: { data: Buffer; info: OutputInfo };
  try {
    // ignoreIcc: libjpeg, cv2 and TF return the stored samples; sharp would colour-manage them.
    // failOn 'error': libjpeg warnings (e.g. extraneous bytes) do not reject an image that cv2
    // and TF decode; truncation and errors still do.
    out = await sharp(bytes, { failOn: 'error', ignoreIcc: true, autoOrient: opts.autoOrient ?? false })
      .removeAlpha()
      .toColourspace(viaRgb ? 'srgb' : 'b-w')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw formatError(`${info.format.toUpperCase()}: cannot decode (${(e as Error).message.trim()}); the image data is corrupt — re-extract or drop it`, opts, 0);
  }
  const { width, height, channels } = out.info;
  if (channels !== 3 && channels !== 1) throw new Error(`sharp returned ${channels} channels for a ${info.format} image`);
  const image: RawImage = { data: out.data, width, height, channels };
  return grey && channels === 3 ? firstChannel(image) : image;
}

function checkJpegDecodable(info: ImageInfo, where: Where): void {
  if (info.components === 4) {
    // No reference decoder defines RGB for CMYK: TF rejects it, cv2 and Pillow use different
    // naive formulas, libvips an ICC transform. A face photo in CMYK is a conversion accident.
    throw formatError('JPEG: CMYK/YCCK images are not supported; convert to RGB first (e.g. `magick in.jpg -colorspace sRGB out.jpg`)', where, 0);
  }
  if (info.components === 2) throw formatError('JPEG: 2-component images are not supported; re-encode as grey or RGB', where, 0);
  if (info.bitDepth !== 8) throw formatError(`JPEG: ${info.bitDepth}-bit samples are not supported (8-bit only); re-encode as an 8-bit JPEG`, where, 0);
}

/** Converts between grey and RGB: replication, or BT.601 luma in cv2's 14-bit fixed point. */
export function toChannels(image: RawImage, channels: Channels): RawImage {
  if (image.channels === channels) return image;
  const n = image.width * image.height;
  const src = image.data;
  const out = new Uint8Array(n * channels);
  if (channels === 3) {
    for (let i = 0, o = 0; i < n; i++, o += 3) out[o] = out[o + 1] = out[o + 2] = src[i]!;
  } else {
    // cv2.cvtColor(RGB2GRAY): (4899 R + 9617 G + 1868 B + 2^13) >> 14. libvips' greyscale goes
    // through linear light instead (up to 4 off on real faces).
    for (let i = 0, s = 0; i < n; i++, s += 3) out[i] = (4899 * src[s]! + 9617 * src[s + 1]! + 1868 * src[s + 2]! + 8192) >> 14;
  }
  return { data: out, width: image.width, height: image.height, channels };
}

function firstChannel(image: RawImage): RawImage {
  const n = image.width * image.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = image.data[3 * i]!;
  return { data: out, width: image.width, height: image.height, channels: 1 };
}

function checkSize(width: number, height: number): void {
  // 65500: the largest side a JPEG can hold in libjpeg-turbo.
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 65500 || height > 65500) {
    throw new RangeError(`image size ${width}×${height} must be whole numbers in 1..65500`);
  }
}

function checkPixels(data: Uint8Array, width: number, height: number, channels: number): void {
  checkSize(width, height);
  if (channels !== 1 && channels !== 3) throw new RangeError(`channels must be 1 or 3, not ${channels}`);
  if (data.length !== width * height * channels) {
    throw new RangeError(`pixel buffer has ${data.length} bytes but ${width}×${height}×${channels} needs ${width * height * channels}`);
  }
}

export interface EncodeOptions {
  /** libjpeg quality 1..100 with the standard (Annex K) tables. Default 95, as insightface's datasets. */
  quality?: number;
  /** Chroma subsampling for RGB. Default '4:2:0', as insightface's datasets. Ignored for grey. */
  subsampling?: '4:2:0' | '4:4:4';
  /** Progressive coding. Default false. */
  progressive?: boolean;
  /**
   * Optimised Huffman tables: ~8% smaller, identical pixels. Default true. With false the output
   * equals cv2.imencode's from the first Huffman table on (cv2 also writes a JFIF APP0 segment).
   */
  optimizeCoding?: boolean;
}

/**
 * Encodes HWC grey or RGB pixels as a baseline (or progressive) JPEG, as libjpeg-turbo with
 * JDCT_ISLOW and standard tables does. The bytes depend only on the pixels and the options.
 */
export async function encodeJpeg(pixels: Uint8Array, width: number, height: number, channels: Channels, opts: EncodeOptions = {}): Promise<Buffer> {
  checkPixels(pixels, width, height, channels);
  const quality = opts.quality ?? 95;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new RangeError(`JPEG quality must be a whole number in 1..100, not ${quality}`);
  return sharp(pixels, { raw: { width, height, channels } })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb') // else libvips writes grey as 3 components
    .jpeg({
      quality,
      chromaSubsampling: opts.subsampling ?? '4:2:0',
      progressive: opts.progressive ?? false,
      optimiseCoding: opts.optimizeCoding ?? true,
      mozjpeg: false, // no trellis quantisation or custom tables: libjpeg-turbo's output
    })
    .toBuffer();
}

export interface ResizeOptions {
  /** 'cover' (default): keep the aspect ratio, crop the centre; 'fill': stretch to the size. */
  fit?: 'cover' | 'fill';
}

/**
 * Resizes with libvips' Lanczos-3 (a 6-tap windowed sinc, preceded by a box shrink for large
 * factors), as sharp does by default. Deterministic for a given sharp/libvips version; the
 * channel count is kept.
 */
export async function resizeTo(image: RawImage, width: number, height: number, opts: ResizeOptions = {}): Promise<RawImage> {
  checkPixels(image.data, image.width, image.height, image.channels);
  checkSize(width, height);
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } })
    .resize(width, height, { kernel: 'lanczos3', fit: opts.fit ?? 'cover', position: 'centre' })
    .toColourspace(image.channels === 1 ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== image.channels) throw new Error(`sharp resize returned ${info.channels} channels for ${image.channels}`);
  return { data, width: info.width, height: info.height, channels: image.channels };
}
