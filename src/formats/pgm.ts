// 8-bit PGM (Netpbm greymap), binary P5 and plain-text P2: the ORL/AT&T face database's format.
// Written by hand because neither sharp's prebuilt libvips (built without ppmload) nor
// @jsquash/jpeg reads Netpbm, and the format is a text header plus raw bytes.
import { formatError, parsePgmHeader, readPgmNumber, type PgmHeader, type Where } from './jpeg-info.js';

/** Decodes an 8-bit PGM to width×height grey bytes, scaling maxval < 255 to 0..255 (rounded). */
export function decodePgm(b: Uint8Array, where: Where = {}): { data: Uint8Array; width: number; height: number; channels: 1 } {
  const h = parsePgmHeader(b, where);
  const n = h.width * h.height;
  const data = h.plain ? readPlain(b, h, n, where) : readBinary(b, h, n, where);
  if (h.maxval !== 255) {
    for (let i = 0; i < n; i++) {
      if (data[i]! > h.maxval) throw formatError(`PGM: pixel ${i} is ${data[i]}, above maxval ${h.maxval}`, where, h.plain ? h.dataOffset : h.dataOffset + i);
      data[i] = Math.floor((data[i]! * 255 + (h.maxval >> 1)) / h.maxval);
    }
  }
  return { data, width: h.width, height: h.height, channels: 1 };
}

function readBinary(b: Uint8Array, h: PgmHeader, n: number, where: Where): Uint8Array {
  if (b.length - h.dataOffset < n) {
    throw formatError(`PGM: the raster needs ${n} bytes (${h.width}×${h.height}) but only ${b.length - h.dataOffset} remain; the file is truncated`, where, b.length);
  }
  // A copy: maxval scaling rewrites it in place, and the caller may reuse the file buffer.
  return b.slice(h.dataOffset, h.dataOffset + n);
}

function readPlain(b: Uint8Array, h: PgmHeader, n: number, where: Where): Uint8Array {
  const out = new Uint8Array(n);
  let p = h.dataOffset;
  for (let i = 0; i < n; i++) {
    const [v, q] = readPgmNumber(b, p, `value of pixel ${i} of ${n}`, where);
    if (v > h.maxval) throw formatError(`PGM: pixel ${i} is ${v}, above maxval ${h.maxval}`, where, q - 1);
    out[i] = v;
    p = q;
  }
  return out;
}
