// CRC32C (Castagnoli) and TensorFlow's "masked" variant, which TFRecord stores for the length and
// the data of every record. The CRC itself comes from @node-rs/crc32 (SSE4.2/ARMv8 instructions).
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, continuing from `initial` (the CRC of the bytes before it) when given. */
export function crc32c(data: Uint8Array, initial?: number): number {
  return nativeCrc32c(data, initial) >>> 0;
}

// For a few bytes (TFRecord length fields, the framing around an Example's image) a table in JS
// is several times cheaper than a native call with its subarray; big runs go to the native code.
const TABLE = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c;
});

/** CRC32C of `b[start, end)`, continuing from `initial` like `crc32c`, in JS: for short runs. */
export function crc32cShort(b: Uint8Array, start: number, end: number, initial = 0): number {
  let c = ~initial;
  for (let i = start; i < end; i++) c = TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// TensorFlow masks stored CRCs because a CRC of data that itself contains CRCs is weak
// (tensorflow/core/lib/hash/crc32c.h): rotate right by 15 bits, then add a constant.
const MASK_DELTA = 0xa282ead8;

/** mask(c) = ((c >>> 15) | (c << 17)) + 0xA282EAD8, modulo 2^32. */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** The inverse of `maskCrc`. */
export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/** The masked CRC32C that TFRecord stores after the length and after the data. */
export function maskedCrc32c(data: Uint8Array): number {
  return maskCrc(crc32c(data));
}
