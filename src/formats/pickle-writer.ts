// A minimal pickle emitter (protocols 2 and 3): the opcodes Python's own pickler uses for byte
// strings, bools, small ints, text, lists, tuples and calls of named globals — enough to write
// verification .bin files that `pickle.load` reads. It writes no memo entries except on request:
// loaders do not need them. Large payloads are kept as references, not copied.

const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, EMPTY_LIST: 0x5d, APPENDS: 0x65, APPEND: 0x61, EMPTY_TUPLE: 0x29, TUPLE: 0x74,
  TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89, BININT1: 0x4b, BININT2: 0x4d,
  BININT: 0x4a, LONG1: 0x8a, SHORT_BINBYTES: 0x43, BINBYTES: 0x42, SHORT_BINSTRING: 0x55, BINSTRING: 0x54,
  BINUNICODE: 0x58, GLOBAL: 0x63, REDUCE: 0x52, BUILD: 0x62, BINPUT: 0x71, LONG_BINPUT: 0x72, BINGET: 0x68, LONG_BINGET: 0x6a,
} as const;

/** Python's pickler appends list items in batches of this many. */
const BATCH = 1000;
/** Payloads at least this long are referenced, not copied into the opcode buffer. */
const BY_REFERENCE = 512;

export class PickleWriter {
  private readonly chunks: Buffer[] = [];
  private scratch = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private readonly memoKeys = new Map<string, number>();

  constructor(readonly protocol: 2 | 3) {
    this.op(OP.PROTO).u8(protocol);
  }

  none(): this { return this.op(OP.NONE); }
  bool(b: boolean): this { return this.op(b ? OP.NEWTRUE : OP.NEWFALSE); }

  /** An int: BININT1/2 when small and non-negative, BININT within int32, else LONG1. */
  int(n: number | bigint): this {
    if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new RangeError(`pickle int ${n} is not an integer`);
    const v = BigInt(n);
    if (v >= 0n && v < 256n) return this.op(OP.BININT1).u8(Number(v));
    if (v >= 0n && v < 65536n) return this.op(OP.BININT2).uint(Number(v), 2);
    if (v >= -(2n ** 31n) && v < 2n ** 31n) return this.op(OP.BININT).uint(Number(BigInt.asUintN(32, v)), 4);
    let bytes = 1;
    while (BigInt.asIntN(bytes * 8, v) !== v) bytes++;
    const le = Buffer.from(BigInt.asUintN(bytes * 8, v).toString(16).padStart(bytes * 2, '0'), 'hex').reverse();
    return this.op(OP.LONG1).u8(bytes).raw(le);
  }

  /** Python 3 `bytes` (protocol 3+). */
  bytes(b: Uint8Array): this {
    if (this.protocol < 3) throw new Error('pickle bytes need protocol 3 or newer; use pyStr for protocol 2');
    return b.length < 256 ? this.op(OP.SHORT_BINBYTES).u8(b.length).raw(b) : this.op(OP.BINBYTES).uint(this.fits32(b), 4).raw(b);
  }

  /** A Python 2 `str` (read by Python 3 as bytes with encoding='bytes'). */
  pyStr(b: Uint8Array): this {
    return b.length < 256 ? this.op(OP.SHORT_BINSTRING).u8(b.length).raw(b) : this.op(OP.BINSTRING).uint(this.fits32(b, 2 ** 31), 4).raw(b);
  }

  /** A Python `str` (unicode in Python 2). */
  unicode(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.op(OP.BINUNICODE).uint(this.fits32(b), 4).raw(b);
  }

  /** A global by name, e.g. ('numpy', 'dtype'); loaders import it, so only name trusted ones. */
  global(module: string, name: string): this {
    if (/[\n\r]/.test(module + name)) throw new Error(`pickle global names cannot contain newlines: ${module}.${name}`);
    return this.op(OP.GLOBAL).raw(Buffer.from(`${module}\n${name}\n`, 'utf8'));
  }

  mark(): this { return this.op(OP.MARK); }
  /** A tuple of the `n` values last written; n > 3 needs a mark() before them. */
  tuple(n: number): this {
    return this.op([OP.EMPTY_TUPLE, OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][n] ?? OP.TUPLE);
  }
  /** A list: `each` writes one item; batches of MARK … APPENDS like Python's pickler. */
  list<T>(items: readonly T[], each: (item: T) => void): this {
    this.op(OP.EMPTY_LIST);
    for (let i = 0; i < items.length; i += BATCH) {
      const batch = items.slice(i, i + BATCH);
      if (batch.length > 1) this.mark();
      batch.forEach(each);
      this.op(batch.length > 1 ? OP.APPENDS : OP.APPEND);
    }
    return this;
  }
  /** Calls the callable two values down with the argument tuple on top. */
  reduce(): this { return this.op(OP.REDUCE); }
  /** Sets the state (on top) of the object below it. */
  build(): this { return this.op(OP.BUILD); }

  /** Writes a value once, and a memo reference to it every later time `key` comes up. */
  memoized(key: string, write: () => void): this {
    const known = this.memoKeys.get(key);
    if (known !== undefined) return known < 256 ? this.op(OP.BINGET).u8(known) : this.op(OP.LONG_BINGET).uint(known, 4);
    write();
    const index = this.memoKeys.size;
    this.memoKeys.set(key, index);
    return index < 256 ? this.op(OP.BINPUT).u8(index) : this.op(OP.LONG_BINPUT).uint(index, 4);
  }

  /** Ends the pickle; returns its bytes as chunks (large payloads are the caller's buffers). */
  finish(): Buffer[] {
    this.op(OP.STOP).flush();
    return this.chunks;
  }

  private fits32(b: Uint8Array, limit = 2 ** 32): number {
    if (b.length >= limit) throw new RangeError(`a pickle string of ${b.length} bytes needs protocol 4`);
    return b.length;
  }
  private op(code: number): this { return this.u8(code); }
  private u8(v: number): this {
    this.room(1);
    this.scratch[this.used++] = v;
    return this;
  }
  private uint(v: number, bytes: 2 | 4): this {
    this.room(bytes);
    this.used = this.scratch.writeUIntLE(v, this.used, bytes);
    return this;
  }
  private raw(b: Uint8Array): this {
    if (b.length >= BY_REFERENCE) {
      this.flush();
      this.chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));
      return this;
    }
    this.room(b.length);
    this.scratch.set(b, this.used);
    this.used += b.length;
    return this;
  }
  private room(n: number): void {
    if (this.used + n > this.scratch.length) this.flush();
  }
  private flush(): void {
    if (this.used === 0) return;
    this.chunks.push(this.scratch.subarray(0, this.used));
    this.scratch = this.scratch.subarray(this.used);
    if (this.scratch.length < 1024) this.scratch = Buffer.allocUnsafe(64 * 1024);
    this.used = 0;
  }
}
