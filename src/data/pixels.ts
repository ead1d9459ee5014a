// Pixels to model input, as the original project and insightface do it:
// (x − 127.5) · 0.0078125, optional horizontal flip, RGB or BGR channel order.
export interface DecodeJob {
  id: number;
  n: number;
  size: number;
  bgr: boolean;
  /** All JPEGs of the batch back to back; image i is bytes[starts[i], starts[i+1]). */
  bytes: ArrayBuffer;
  starts: number[];
  flips: Uint8Array;
  /** For error messages: where each image came from. */
  names: string[];
}

export type DecodeResult = { id: number; images: Float32Array; error?: undefined } | { id: number; error: string; images?: undefined };

export const MEAN = 127.5;
export const SCALE = 0.0078125;

/** Writes one HWC RGB uint8 image into `out` at `at`, normalised, mirrored if `flip`, BGR if asked. */
export function normalizeInto(out: Float32Array, at: number, rgb: Uint8Array, size: number, flip: boolean, bgr: boolean): void {
  const [c0, c2] = bgr ? [2, 0] : [0, 2];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const src = (y * size + (flip ? size - 1 - x : x)) * 3;
      const dst = at + (y * size + x) * 3;
      out[dst] = (rgb[src + c0]! - MEAN) * SCALE;
      out[dst + 1] = (rgb[src + 1]! - MEAN) * SCALE;
      out[dst + 2] = (rgb[src + c2]! - MEAN) * SCALE;
    }
  }
}
