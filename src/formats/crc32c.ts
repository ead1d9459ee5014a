// CRC32C (Castagnoli) and TensorFlow's "masked" variant, which TFRecord stores for the length and
// the data of every record. The CRC itself comes from @node-rs/crc32 (SSE4.2/ARMv8 instructions).
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, continuing from `initial` (the CRC of the bytes before it) when given. */
export function crc32c(data: Uint8Array, initial?: number): number {
  return nativeCrc32c(data, initial) >>> 0;
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
