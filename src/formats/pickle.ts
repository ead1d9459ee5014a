// A safe unpickler for Python pickle protocols 2–5: plain Python values, byte strings and numpy
// arrays, which is what insightface's verification .bin files hold.
//
// Why by hand: the npm packages (pickleparser 0.2, jpickle, unpickle, node-pickle) spawn Python
// or turn any global into a placeholder instead of refusing it; pickleparser also rejects protocol
// 5 and decodes py2 byte strings as text (corrupting JPEGs), and none checks declared lengths
// against the file or reports byte offsets.
//
// Safety: nothing in the file is executed. Globals resolve only against ALLOWED, small pure
// functions; any other name is a FormatError. The machine is a loop (no recursion: nesting cannot
// overflow the JS stack); every declared length is checked against what is left before use, and
// byte strings are views into the input (no copies, no allocation from a declared size).
import { FormatError } from './errors.js';

/** A numpy dtype: `descr` without byte order (`u1`, `f4`, `S5`), `byteorder` one of `<>|=`. */
export interface DType { readonly kind: 'dtype'; descr: string; byteorder: string; itemsize: number }
/** A numpy array: its raw bytes (a view into the input), C order unless `fortran`. */
export interface NdArray { readonly kind: 'ndarray'; dtype: DType; shape: number[]; fortran: boolean; data: Buffer }
/** An allowed global (`numpy.dtype`, …) as a value, before it is called. */
export interface PickleGlobal { readonly kind: 'global'; readonly name: string }
/**
 * None → null, bool → boolean, int → number (bigint beyond 2^53), float → number, str → string,
 * bytes / bytearray / py2 str → Buffer, tuple → frozen array, list → array, dict → Map (str and
 * int keys by value, others by identity), set / frozenset → Set.
 */
export type PickleValue = null | boolean | number | bigint | string | Buffer | PickleValue[] | readonly PickleValue[]
  | Map<PickleValue, PickleValue> | Set<PickleValue> | NdArray | DType | PickleGlobal;

/** The value, and the offset just past STOP (Python's pickle.load ignores what follows). */
export interface Unpickled { value: PickleValue; end: number }

/** Unpickles `data`; errors name `file` (a label for messages) and the offending opcode's offset. */
export function unpickle(data: Buffer, file?: string): Unpickled {
  return new Machine(data, file).run();
}

/** Tuples are frozen arrays, lists are not. (Not a type guard: its false branch would drop lists too.) */
export function isTuple(v: PickleValue | undefined): boolean {
  return Array.isArray(v) && Object.isFrozen(v);
}
const kindOf = (v: PickleValue | undefined): unknown =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { kind?: unknown }).kind : undefined;
export const isNdArray = (v: PickleValue | undefined): v is NdArray => kindOf(v) === 'ndarray';
const isDType = (v: PickleValue | undefined): v is DType => kindOf(v) === 'dtype';
const isGlobal = (v: PickleValue | undefined, name?: string): v is PickleGlobal =>
  kindOf(v) === 'global' && (name === undefined || (v as PickleGlobal).name === name);

/** A short, non-recursive description of a value's type, for error messages. */
export function describe(v: PickleValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (Buffer.isBuffer(v)) return `bytes of length ${v.length}`;
  if (Array.isArray(v)) return `${isTuple(v) ? 'tuple' : 'list'} of length ${v.length}`;
  if (v instanceof Map || v instanceof Set) return v instanceof Map ? 'dict' : 'set';
  if (typeof v !== 'object') return typeof v === 'string' ? 'str' : typeof v === 'boolean' ? 'bool' : `number ${v}`;
  if (isNdArray(v)) return `numpy array of dtype ${v.dtype.descr} and shape (${v.shape.join(', ')})`;
  return isDType(v) ? `numpy dtype ${v.descr}` : `global ${(v as PickleGlobal).name}`;
}

const STOP = 0x2e;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Python's Unpickler state, with `marks` as indices into one stack instead of a stack of lists. */
class Machine {
  pos = 0;
  at = 0; // offset and name of the running opcode, for messages
  op = '';
  readonly stack: PickleValue[] = [];
  readonly marks: number[] = [];
  readonly memo = new Map<number, PickleValue>();

  constructor(readonly buf: Buffer, readonly file: string | undefined) {}

  fail(message: string): never {
    throw new FormatError(message, this.file, this.at);
  }

  run(): Unpickled {
    for (;;) {
      this.at = this.pos;
      if (this.pos >= this.buf.length) this.fail('the pickle ends without STOP: the file is truncated; download or write it again');
      const code = this.buf[this.pos++]!;
      const op = OPS[code];
      if (op === undefined) this.fail(`unknown pickle opcode 0x${code.toString(16).padStart(2, '0')}: not a pickle of protocol 2–5, or corrupt`);
      this.op = op.name;
      if (code === STOP) return { value: this.finish(), end: this.pos };
      const v = op.run(this);
      if (v !== undefined) this.stack.push(v);
    }
  }

  private finish(): PickleValue {
    if (this.marks.length > 0 || this.stack.length !== 1) this.fail(`malformed pickle: STOP with ${this.stack.length} values and ${this.marks.length} open MARKs on the stack`);
    return this.stack[0]!;
  }

  /** Claims the next `n` bytes of the opcode's argument, checked against the file; returns their start. */
  take(n: number | bigint): number {
    const left = this.buf.length - this.pos;
    if (n < 0) this.fail(`${this.op} declares a negative length ${n}: the file is corrupt`);
    if (n > left) this.fail(`${this.op} declares ${n} bytes but only ${left} remain (the file ends at byte ${this.buf.length}): it is truncated or corrupt; download or write it again`);
    this.pos += Number(n);
    return this.pos - Number(n);
  }
  u8(): number { return this.buf[this.take(1)]!; }
  u16(): number { return this.buf.readUInt16LE(this.take(2)); }
  i32(): number { return this.buf.readInt32LE(this.take(4)); }
  u32(): number { return this.buf.readUInt32LE(this.take(4)); }
  u64(): bigint { return this.buf.readBigUInt64LE(this.take(8)); }
  bytes(n: number | bigint): Buffer {
    const start = this.take(n);
    return this.buf.subarray(start, this.pos);
  }
  text(n: number | bigint): string {
    const b = this.bytes(n);
    try {
      return utf8.decode(b);
    } catch {
      return this.fail(`${this.op} holds invalid UTF-8: the file is corrupt`);
    }
  }
  /** A text argument up to the next newline (GLOBAL names, PUT/GET indices). */
  line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`${this.op} argument has no terminating newline: the file is truncated or corrupt`);
    return this.buf.toString('latin1', this.take(end + 1 - this.pos), end);
  }

  pop(): PickleValue {
    if (this.stack.length <= (this.marks.at(-1) ?? 0)) this.fail(`${this.op} needs a value but the stack is empty${this.marks.length ? ' above the last MARK' : ''}: the pickle is malformed`);
    return this.stack.pop()!;
  }
  top(): PickleValue {
    const v = this.pop();
    this.stack.push(v);
    return v;
  }
  /** The values pushed since the last MARK, which is removed. */
  popMark(): PickleValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.fail(`${this.op} without a MARK before it: the pickle is malformed`);
    return this.stack.splice(mark);
  }
  memoGet(key: number): PickleValue {
    if (!this.memo.has(key)) this.fail(`${this.op} reads memo entry ${key}, which was never stored: the pickle is malformed`);
    return this.memo.get(key)!;
  }
  put(key: number): void {
    this.memo.set(key, this.top());
  }
  /** Resolves a global against the allow-list; anything else is refused and never run. */
  global(module: PickleValue, name: PickleValue): PickleGlobal {
    if (typeof module !== 'string' || typeof name !== 'string') this.fail(`${this.op} needs a module and a name as str, got ${describe(module)} and ${describe(name)}`);
    const key = `${module}.${name}`;
    if (!ALLOWED.has(key)) {
      this.fail(`refused global '${key}' (${this.op}): it was NOT executed. Only numpy array/dtype reconstruction, _codecs.encode, bytes and bytearray are allowed; this file is not a plain data pickle and may be malicious — do not load it with Python's pickle either`);
    }
    return { kind: 'global', name: key };
  }
  call(fn: PickleValue, args: PickleValue): PickleValue {
    if (!isGlobal(fn)) this.fail(`${this.op} calls a ${describe(fn)}; only allow-listed globals can be called`);
    if (!isTuple(args)) this.fail(`${this.op} arguments are a ${describe(args)}, expected a tuple`);
    const f = ALLOWED.get(fn.name);
    if (!f) this.fail(`calling ${fn.name} is not supported: it may only be passed to numpy's _reconstruct`);
    return f(this, args as readonly PickleValue[], fn.name);
  }
  /** The object a container opcode adds to: `kind` must match. */
  target(kind: 'list' | 'dict' | 'set'): PickleValue[] & Map<PickleValue, PickleValue> & Set<PickleValue> {
    const t = this.top();
    const ok = kind === 'list' ? Array.isArray(t) && !Object.isFrozen(t) : t instanceof (kind === 'dict' ? Map : Set);
    if (!ok) this.fail(`${this.op} adds to a ${describe(t)}, expected a ${kind}`);
    return t as never;
  }
}

type Handler = (m: Machine) => PickleValue | void;
const OPS: ({ name: string; run: Handler } | undefined)[] = new Array(256);
const def = (code: string | number, name: string, run: Handler): void => {
  OPS[typeof code === 'number' ? code : code.charCodeAt(0)] = { name, run };
};
const tuple = (items: PickleValue[]): PickleValue => Object.freeze(items);
const memoKey = (m: Machine, s: string): number => (/^\d{1,9}$/.test(s) ? Number(s) : m.fail(`${m.op} memo key '${s.slice(0, 40)}' is not a small integer`));
/** LONG1/LONG4: two's-complement little-endian; capped well below V8's BigInt limit. */
function long(m: Machine, b: Buffer): number | bigint {
  if (b.length > 65536) m.fail(`${m.op} holds a ${b.length}-byte integer: integers this large are not supported`);
  if (b.length === 0) return 0;
  let n = BigInt('0x' + Buffer.from(b).reverse().toString('hex'));
  if (b[b.length - 1]! & 0x80) n -= 1n << BigInt(b.length * 8);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}
function pairs(m: Machine, d: Map<PickleValue, PickleValue>, items: PickleValue[]): Map<PickleValue, PickleValue> {
  if (items.length % 2 !== 0) m.fail(`${m.op} with an odd number (${items.length}) of keys and values`);
  for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
  return d;
}

// Framing, the stack and the memo. The input is all in memory, so a FRAME only needs checking.
def(STOP, 'STOP', () => undefined); // handled by run()
def(0x80, 'PROTO', (m) => {
  const v = m.u8();
  if (v > 5) m.fail(`pickle protocol ${v} is newer than 5, the highest this reader knows`);
});
def(0x95, 'FRAME', (m) => {
  const n = m.u64();
  if (n > BigInt(m.buf.length - m.pos)) m.fail(`FRAME of ${n} bytes is longer than the ${m.buf.length - m.pos} bytes left: the file is truncated or corrupt`);
});
def('(', 'MARK', (m) => void m.marks.push(m.stack.length));
def('0', 'POP', (m) => {
  if (m.stack.length === m.marks.at(-1)) m.marks.pop(); // as in Python: POP on an empty stack drops the MARK
  else m.pop();
});
def('1', 'POP_MARK', (m) => void m.popMark());
def('2', 'DUP', (m) => m.top());
def('p', 'PUT', (m) => m.put(memoKey(m, m.line())));
def('q', 'BINPUT', (m) => m.put(m.u8()));
def('r', 'LONG_BINPUT', (m) => m.put(m.u32()));
def(0x94, 'MEMOIZE', (m) => m.put(m.memo.size));
def('g', 'GET', (m) => m.memoGet(memoKey(m, m.line())));
def('h', 'BINGET', (m) => m.memoGet(m.u8()));
def('j', 'LONG_BINGET', (m) => m.memoGet(m.u32()));

// Scalars and strings. A py2 `str` (BINSTRING) stays bytes, as with Python 3's encoding='bytes'.
def('N', 'NONE', () => null);
def(0x88, 'NEWTRUE', () => true);
def(0x89, 'NEWFALSE', () => false);
def('K', 'BININT1', (m) => m.u8());
def('M', 'BININT2', (m) => m.u16());
def('J', 'BININT', (m) => m.i32());
def(0x8a, 'LONG1', (m) => long(m, m.bytes(m.u8())));
def(0x8b, 'LONG4', (m) => long(m, m.bytes(m.i32())));
def('G', 'BINFLOAT', (m) => m.buf.readDoubleBE(m.take(8)));
def('T', 'BINSTRING', (m) => m.bytes(m.i32()));
def('U', 'SHORT_BINSTRING', (m) => m.bytes(m.u8()));
def('B', 'BINBYTES', (m) => m.bytes(m.u32()));
def('C', 'SHORT_BINBYTES', (m) => m.bytes(m.u8()));
def(0x8e, 'BINBYTES8', (m) => m.bytes(m.u64()));
def(0x96, 'BYTEARRAY8', (m) => m.bytes(m.u64()));
def('X', 'BINUNICODE', (m) => m.text(m.u32()));
def(0x8c, 'SHORT_BINUNICODE', (m) => m.text(m.u8()));
def(0x8d, 'BINUNICODE8', (m) => m.text(m.u64()));

// Containers.
def(')', 'EMPTY_TUPLE', () => tuple([]));
def('t', 'TUPLE', (m) => tuple(m.popMark()));
def(0x85, 'TUPLE1', (m) => tuple([m.pop()]));
def(0x86, 'TUPLE2', (m) => tuple([m.pop(), m.pop()].reverse()));
def(0x87, 'TUPLE3', (m) => tuple([m.pop(), m.pop(), m.pop()].reverse()));
def(']', 'EMPTY_LIST', () => []);
def('l', 'LIST', (m) => m.popMark());
def('a', 'APPEND', (m) => {
  const v = m.pop();
  m.target('list').push(v);
});
def('e', 'APPENDS', (m) => {
  const items = m.popMark();
  const list = m.target('list');
  for (const v of items) list.push(v); // not push(...items): a huge batch would overflow the call stack
});
def('}', 'EMPTY_DICT', () => new Map());
def('d', 'DICT', (m) => pairs(m, new Map(), m.popMark()));
def('s', 'SETITEM', (m) => {
  const v = m.pop(), k = m.pop();
  m.target('dict').set(k, v);
});
def('u', 'SETITEMS', (m) => {
  const items = m.popMark();
  pairs(m, m.target('dict'), items);
});
def(0x8f, 'EMPTY_SET', () => new Set());
def(0x91, 'FROZENSET', (m) => new Set(m.popMark()));
def(0x90, 'ADDITEMS', (m) => {
  const items = m.popMark();
  const set = m.target('set');
  for (const v of items) set.add(v);
});

// Globals and objects: only allow-listed globals exist, so calls only reach pure functions.
def('c', 'GLOBAL', (m) => m.global(m.line(), m.line()));
def(0x93, 'STACK_GLOBAL', (m) => {
  const name = m.pop();
  return m.global(m.pop(), name);
});
def('i', 'INST', (m) => {
  m.global(m.line(), m.line()); // refuses (and names) any global that is not allowed
  m.fail('opcode INST (protocol 0 objects) is not supported');
});
def('R', 'REDUCE', (m) => {
  const args = m.pop();
  return m.call(m.pop(), args);
});
def(0x81, 'NEWOBJ', (m) => {
  const args = m.pop();
  return m.call(m.pop(), args);
});
def(0x92, 'NEWOBJ_EX', (m) => {
  const kwargs = m.pop(), args = m.pop();
  if (!(kwargs instanceof Map) || kwargs.size > 0) m.fail('NEWOBJ_EX with keyword arguments is not supported');
  return m.call(m.pop(), args);
});
def('b', 'BUILD', (m) => {
  const state = m.pop();
  setState(m, m.top(), state);
});
def(0x98, 'READONLY_BUFFER', (m) => void m.top());
for (const [code, name, why] of [
  ['o', 'OBJ', 'protocol 0/1 objects'], ['P', 'PERSID', 'persistent ids'], ['Q', 'BINPERSID', 'persistent ids'],
  [0x82, 'EXT1', 'the copyreg extension registry'], [0x83, 'EXT2', 'the copyreg extension registry'], [0x84, 'EXT4', 'the copyreg extension registry'],
  ['S', 'STRING', 'protocol 0 strings'], ['V', 'UNICODE', 'protocol 0 strings'], ['I', 'INT', 'protocol 0 numbers'],
  ['L', 'LONG', 'protocol 0 numbers'], ['F', 'FLOAT', 'protocol 0 numbers'], [0x97, 'NEXT_BUFFER', 'out-of-band buffers (pickle them in-band)'],
] as const) def(code, name, (m) => m.fail(`opcode ${name} is not supported: ${why} are not used by data files of protocol 2–5`));

// The allow-listed globals: each a pure function producing a JS value.

type GlobalFn = (m: Machine, args: readonly PickleValue[], name: string) => PickleValue;
/** Every global a file may name; `null` ones may be passed as arguments but not called. */
const ALLOWED = new Map<string, GlobalFn | null>([
  ['numpy.core.multiarray._reconstruct', reconstruct], // numpy 1.x, protocols 2–4
  ['numpy._core.multiarray._reconstruct', reconstruct], // numpy 2.x
  ['numpy.core.numeric._frombuffer', fromBuffer], // numpy 1.x, protocol 5
  ['numpy._core.numeric._frombuffer', fromBuffer], // numpy 2.x, protocol 5
  ['numpy.ndarray', null],
  ['numpy.dtype', makeDType],
  ['_codecs.encode', encode], // how Python 3 writes bytes at protocol 2
  ['builtins.bytes', toBytes], ['__builtin__.bytes', toBytes], // empty bytes at protocol 2
  ['builtins.bytearray', toBytes], ['__builtin__.bytearray', toBytes], // bytearray below protocol 5
]);

/** py2 pickles carry names as byte strings, py3 ones as str. */
const asText = (v: PickleValue | undefined): string | undefined =>
  typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('latin1') : undefined;
const emptyArray = (): NdArray =>
  ({ kind: 'ndarray', dtype: { kind: 'dtype', descr: 'i1', byteorder: '|', itemsize: 1 }, shape: [0], fortran: false, data: Buffer.alloc(0) });

/** BUILD: only numpy arrays and dtypes take a state; nothing else is ever constructed here. */
function setState(m: Machine, obj: PickleValue, value: PickleValue): void {
  if (!isTuple(value)) return m.fail(`BUILD with a ${describe(value)} as state, expected a tuple`);
  const state = value as readonly PickleValue[];
  if (isDType(obj)) return setDTypeState(m, obj, state);
  if (!isNdArray(obj)) return m.fail(`BUILD on a ${describe(obj)} is not supported: only numpy arrays and dtypes take a state`);
  // (version, shape, dtype, is_fortran, data); numpy before 1.0 left out the version.
  if (state.length !== 5 && state.length !== 4) m.fail(`numpy array state is a ${describe(state)}, expected (version, shape, dtype, is_fortran, data)`);
  const [shape, dtype, fortran, data] = state.slice(state.length - 4);
  fill(m, obj, data, dtype, shape, fortran === true || fortran === 1);
}

/** `_reconstruct(ndarray, (0,), b'b')`: an empty array that BUILD then fills. */
function reconstruct(m: Machine, args: readonly PickleValue[]): PickleValue {
  return isGlobal(args[0], 'numpy.ndarray') ? emptyArray() : m.fail(`numpy _reconstruct of a ${describe(args[0])}: only numpy.ndarray is allowed`);
}

/** `_frombuffer(buffer, dtype, shape, order)`: numpy's in-band protocol-5 form. */
function fromBuffer(m: Machine, args: readonly PickleValue[]): PickleValue {
  const order = asText(args[3]);
  if (args.length !== 4 || (order !== 'C' && order !== 'F')) m.fail('numpy _frombuffer needs (buffer, dtype, shape, order C or F)');
  return fill(m, emptyArray(), args[0], args[1], args[2], order === 'F');
}

function fill(m: Machine, a: NdArray, data: PickleValue | undefined, dtype: PickleValue | undefined, shape: PickleValue | undefined, fortran: boolean): NdArray {
  if (!isDType(dtype)) return m.fail(`numpy array dtype is a ${describe(dtype)}`);
  if (dtype.descr.startsWith('O')) m.fail('numpy arrays of Python objects are not supported: they can hold arbitrary objects');
  if (!Buffer.isBuffer(data)) return m.fail(`numpy array data is a ${describe(data)}, expected bytes`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) return m.fail(`numpy array shape is a ${describe(shape)}, expected a tuple of sizes`);
  Object.assign(a, { dtype, shape: [...(shape as number[])], fortran, data });
  const size = a.shape.reduce((n, d) => n * d, dtype.itemsize); // a float: a huge shape cannot wrap around
  if (size !== data.length) m.fail(`numpy array of shape (${a.shape.join(', ')}) and dtype ${dtype.descr} needs ${size} bytes but holds ${data.length}`);
  return a;
}

/** `numpy.dtype('u1', align, copy)`; BUILD then sets the byte order. */
function makeDType(m: Machine, args: readonly PickleValue[]): PickleValue {
  const descr = asText(args[0]);
  const match = /^([<>|=]?)([biufcSUVOMm])(\d*)$/.exec(descr ?? '');
  if (!match) return m.fail(`numpy dtype ${descr === undefined ? describe(args[0]) : `'${descr.slice(0, 40)}'`} is not supported (only scalar and string dtypes)`);
  const [, order = '', kind = '', digits = ''] = match;
  const n = Number(digits || 0);
  return { kind: 'dtype', descr: kind + digits, byteorder: order || (n === 1 ? '|' : '='), itemsize: kind === 'U' ? 4 * n : n };
}

/** State (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata]). */
function setDTypeState(m: Machine, dt: DType, state: readonly PickleValue[]): void {
  if (state.length < 8) m.fail(`numpy dtype state is a ${describe(state)}, expected (version, byteorder, subarray, names, fields, elsize, alignment, flags)`);
  if (state[2] !== null || state[3] !== null || state[4] !== null) m.fail('structured and sub-array numpy dtypes are not supported');
  const order = asText(state[1]);
  if (order === undefined || !/^[<>|=]$/.test(order)) m.fail(`numpy dtype byte order ${describe(state[1])} is not one of < > | =`);
  dt.byteorder = order;
  if (dt.itemsize === 0 && typeof state[5] === 'number' && state[5] > 0) dt.itemsize = state[5];
}

/** `_codecs.encode(str, encoding)`: how Python 3 pickles bytes at protocol 2 (always latin1). */
function encode(m: Machine, args: readonly PickleValue[]): PickleValue {
  const [s, enc = 'utf-8'] = args;
  if (typeof s !== 'string' || typeof enc !== 'string' || args.length > 2) return m.fail('_codecs.encode needs (str, encoding)');
  const e = enc.toLowerCase().replace(/[-_ ]/g, '');
  if (e === 'utf8') return Buffer.from(s, 'utf8');
  const max = ['latin1', 'latin', 'l1', 'iso88591'].includes(e) ? 0xff : e === 'ascii' ? 0x7f : m.fail(`_codecs.encode to '${enc}' is not supported (only latin1, ascii, utf-8)`);
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > max) m.fail(`_codecs.encode: the text has characters that ${enc} cannot encode`);
  return Buffer.from(s, 'latin1');
}

/** `bytes()`, `bytes(b'…')`, `bytes(str, encoding)`; never `bytes(n)`, which would allocate n bytes. */
function toBytes(m: Machine, args: readonly PickleValue[], name: string): PickleValue {
  if (args.length === 0) return Buffer.alloc(0);
  if (args.length === 1 && Buffer.isBuffer(args[0])) return args[0];
  if (args.length === 2) return encode(m, args);
  return m.fail(`${name}(${args.map(describe).join(', ')}) is refused: only copies of bytes and encodings of text are allowed`);
}
