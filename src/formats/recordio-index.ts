// The .idx that goes with a .rec: text lines `key<TAB>offset`, in write order; keys need be
// neither sorted nor contiguous. Parsed byte by byte (MS1M's has 5.9M lines).
import { readFile } from 'node:fs/promises';
import { FormatError } from './errors.js';

/** A record starts with its 8-byte part header (magic + lrec). */
const HEADER = 8;

const isBlank = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d;

/** Parses `key<TAB>offset` in text[s, e) into `out`: 2 for a pair, 0 for a blank line, -1 if malformed. */
function parseIdxLine(text: Buffer, s: number, e: number, out: number[]): number {
  let n = 0;
  for (let i = s; ;) {
    while (i < e && isBlank(text[i]!)) i++;
    if (i === e) return n === 1 ? -1 : n;
    if (n === 2) return -1;
    const from = i;
    let v = 0;
    for (let d = text[i]! - 0x30; i < e && d >= 0 && d <= 9; d = text[++i]! - 0x30) v = v * 10 + d;
    if (i === from || (i < e && !isBlank(text[i]!)) || !Number.isSafeInteger(v)) return -1;
    out[n++] = v;
  }
}

/** Byte offset in the .idx of entry `entry` (0-based, blank lines skipped), for error messages. */
function entryStart(text: Buffer, entry: number): number {
  for (let s = 0, n = 0; s < text.length;) {
    const nl = text.indexOf(10, s);
    const e = nl < 0 ? text.length : nl;
    if (parseIdxLine(text, s, e, []) === 2 && n++ === entry) return s;
    s = e + 1;
  }
  return text.length;
}

/** The parsed .idx: keys in write order, their offsets, and where each record's span ends. */
export class RecordIndex {
  /** Next larger indexed offset (or the file size) per entry: its record ends before that. */
  readonly ends: Float64Array;
  /** Entry positions in file order; null when the .idx is already in file order (the usual case). */
  private readonly order: Uint32Array | null;

  private constructor(
    readonly keys: number[],
    readonly offsets: number[],
    recSize: number,
    private readonly table: Int32Array | Map<number, number>,
  ) {
    const sorted = offsets.every((o, i) => i === 0 || o >= offsets[i - 1]!);
    this.order = sorted ? null : Uint32Array.from(offsets, (_, i) => i).sort((a, b) => offsets[a]! - offsets[b]!);
    this.ends = new Float64Array(offsets.length);
    let [above, previous] = [recSize, recSize];
    for (let j = offsets.length - 1; j >= 0; j--) {
      const p = this.order ? this.order[j]! : j;
      if (offsets[p]! < previous) above = previous;
      this.ends[p] = above;
      previous = offsets[p]!;
    }
  }

  static async load(idxFile: string, recFile: string, recSize: number): Promise<RecordIndex> {
    const text = await readFile(idxFile);
    const keys: number[] = [];
    const offsets: number[] = [];
    const pair = [0, 0];
    for (let s = 0, line = 1; s < text.length; line++) {
      const nl = text.indexOf(10, s);
      const e = nl < 0 ? text.length : nl;
      const kind = parseIdxLine(text, s, e, pair);
      const [key, offset] = pair as [number, number];
      if (kind < 0) {
        throw new FormatError(`line ${line}: expected "key<TAB>offset" with non-negative integers, got ${JSON.stringify(text.toString('latin1', s, Math.min(e, s + 60)))} — regenerate the .idx from its .rec`, idxFile, s);
      }
      if (kind === 2 && (offset % 4 !== 0 || offset + HEADER > recSize)) {
        throw new FormatError(`line ${line}: key ${key} points at byte ${offset} of ${recFile}, where no record can start (${offset % 4 ? 'not a multiple of 4' : `the file has ${recSize} bytes`}) — the .idx does not belong to this .rec; regenerate it`, idxFile, s);
      }
      if (kind === 2) {
        keys.push(key);
        offsets.push(offset);
      }
      s = e + 1;
    }
    const table = buildTable(keys, (p, q) => {
      throw new FormatError(`key ${keys[q]} appears twice (entries ${p + 1} and ${q + 1}, at bytes ${offsets[p]} and ${offsets[q]} of ${recFile}) — the .idx is corrupt; regenerate it`, idxFile, entryStart(text, q));
    });
    return new RecordIndex(keys, offsets, recSize, table);
  }

  /** Position of `key` in .idx order, or -1. */
  position(key: number): number {
    if (this.table instanceof Map) return this.table.get(key) ?? -1;
    return Number.isInteger(key) && key >= 0 && key < this.table.length ? this.table[key]! : -1;
  }

  /** Entry positions in file (offset) order. */
  fileOrder(): Uint32Array {
    return this.order ?? Uint32Array.from(this.offsets, (_, i) => i);
  }
}

// A key → position table: a flat array when keys are dense (the usual 0..N), else a Map.
function buildTable(keys: number[], duplicate: (p: number, q: number) => never): Int32Array | Map<number, number> {
  const max = keys.reduce((m, k) => Math.max(m, k), -1);
  if (max < 2 * keys.length + 1024) {
    const table = new Int32Array(max + 1).fill(-1);
    keys.forEach((k, q) => (table[k]! >= 0 ? duplicate(table[k]!, q) : (table[k] = q)));
    return table;
  }
  const map = new Map<number, number>();
  keys.forEach((k, q) => (map.has(k) ? duplicate(map.get(k)!, q) : map.set(k, q)));
  return map;
}
