// The safe unpickler against pickles Python writes, malicious pickles, and broken input.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { FormatError } from '../../src/formats/errors.js';
import { isTuple, unpickle, type PickleValue } from '../../src/formats/pickle.js';
import { PickleWriter } from '../../src/formats/pickle-writer.js';
import { sharedData, tempDir } from '../helpers.js';

const hasPython = (await execa('python3', ['-c', 'print(1)'], { reject: false })).exitCode === 0;
const python = async (script: string, input?: string): Promise<string> => (await execa('python3', ['-c', script], { input })).stdout;

/** The same neutral JSON form Python's `enc` below gives a value, to compare the two. */
function toJson(v: PickleValue): unknown {
  if (Buffer.isBuffer(v)) return { b: v.toString('hex') };
  if (Array.isArray(v)) return isTuple(v) ? { t: v.map(toJson) } : (v as PickleValue[]).map(toJson);
  if (v instanceof Map) return { d: [...v].map(([k, x]) => [toJson(k), toJson(x)]) };
  if (v instanceof Set) return { s: [...(v as Set<PickleValue>)].map((x) => JSON.stringify(toJson(x))).sort() };
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return { i: String(v) };
  if (typeof v === 'number') return { f: v };
  return v;
}
const ENC = `
import json, pickle, sys
def enc(v):
    if isinstance(v, (bytes, bytearray)): return {'b': bytes(v).hex()}
    if isinstance(v, bool) or v is None or isinstance(v, str): return v
    if isinstance(v, int): return {'i': str(v)}
    if isinstance(v, float): return {'f': v}
    if isinstance(v, tuple): return {'t': [enc(x) for x in v]}
    if isinstance(v, list): return [enc(x) for x in v]
    if isinstance(v, dict): return {'d': [[enc(k), enc(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)): return {'s': sorted(json.dumps(enc(x), separators=(',', ':')) for x in v)}
`;

const fail = (re: RegExp, offset?: number) => (e: unknown): boolean => {
  assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
  assert.match(e.message, re);
  if (offset !== undefined) assert.equal(e.offset, offset);
  return true;
};

test('reads (list_of_bytes, list_of_bools) that Python writes at protocols 2, 4 and 5', { skip: !hasPython && 'python3 not found' }, async () => {
  const out = await python(`${ENC}
jpeg = b'\\xff\\xd8\\xff\\xe0' + bytes(range(256)) * 30
same = b'shared object, memoized once' * 3
value = ([jpeg, b'', b'\\x00\\x01\\x80\\xff', bytearray(b'bytearray'), same, same, b'x' * 255, b'y' * 256], [True, False, True, False])
for p in (2, 4, 5):
    print(json.dumps([p, pickle.dumps(value, protocol=p).hex(), enc(value)]))
`);
  for (const line of out.split('\n')) {
    const [protocol, hex, expected] = JSON.parse(line) as [number, string, unknown];
    const { value, end } = unpickle(Buffer.from(hex, 'hex'), `protocol-${protocol}.pkl`);
    assert.deepEqual(toJson(value), expected, `protocol ${protocol}`);
    assert.equal(end, hex.length / 2);
  }
});

test('reads the other plain values Python writes: ints of every size, floats, text, dicts, sets, nesting', { skip: !hasPython && 'python3 not found' }, async () => {
  const out = await python(`${ENC}
value = {'ints': [0, 1, 255, 256, 65535, 65536, -1, -2**31, 2**31 - 1, 2**31, 2**53, -2**53 - 1, 2**64 + 7, -2**200],
         'floats': [0.5, -1.5e-300, 3.25], 'text': ['', 'héllo', '日本', 'x' * 300], 'none': None,
         'tuples': [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)], 5: [[[[]]]]}
for p in (2, 3, 4, 5):
    if p >= 4:  # below protocol 4 sets are builtins.set(...) calls, which are not on the allow-list
        value.update({'set': {1, 'a'}, 'frozen': frozenset([3])})
    print(json.dumps([p, pickle.dumps(value, protocol=p).hex(), enc(value)]))
`);
  for (const line of out.split('\n')) {
    const [protocol, hex, expected] = JSON.parse(line) as [number, string, unknown];
    assert.deepEqual(toJson(unpickle(Buffer.from(hex, 'hex')).value), expected, `protocol ${protocol}`);
  }
});

test('the writer emits what Python reads back, and what unpickle reads back', { skip: !hasPython && 'python3 not found' }, async () => {
  const ints = [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER, -(2n ** 100n), 2n ** 64n];
  const w = new PickleWriter(3);
  w.list(ints, (n) => w.int(n)).unicode('héllo').bytes(Buffer.alloc(600, 7)).pyStr(Buffer.from('py2')).none().tuple(3).tuple(3);
  const data = Buffer.concat(w.finish());
  const out = await python(`${ENC}\nprint(json.dumps(enc(pickle.loads(bytes.fromhex(sys.stdin.read()), encoding='bytes'))))`, data.toString('hex'));
  assert.deepEqual(JSON.parse(out), toJson(unpickle(data).value));
  assert.deepEqual((unpickle(data).value as PickleValue[][])[0], ints, 'ints beyond 2^53 come back as bigint');
});

/** A pickle that runs `touch marker` when Python loads it: GLOBAL or STACK_GLOBAL, then REDUCE. */
function shellPayload(kind: 'GLOBAL' | 'STACK_GLOBAL', module: string, name: string, arg: string): Buffer {
  const str = (s: string): Buffer => Buffer.concat([Buffer.from([0x58]), u32(Buffer.byteLength(s)), Buffer.from(s)]);
  const global = kind === 'GLOBAL' ? Buffer.from(`c${module}\n${name}\n`) : Buffer.concat([str(module), str(name), Buffer.from([0x93])]);
  return Buffer.concat([Buffer.from([0x80, kind === 'GLOBAL' ? 2 : 4]), global, str(arg), Buffer.from([0x85, 0x52, 0x2e])]);
}
const u32 = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer);

test('malicious pickles are refused, naming the global and its offset, and nothing runs', async (t) => {
  const dir = await tempDir(t);
  const marker = path.join(dir, 'pwned');
  const cmd = `touch '${marker}'`;
  const cases: Array<[string, Buffer, string, number]> = [
    ['os.system via GLOBAL', shellPayload('GLOBAL', 'os', 'system', cmd), 'os.system', 2],
    ['posix.system via STACK_GLOBAL + REDUCE', shellPayload('STACK_GLOBAL', 'posix', 'system', cmd), 'posix.system', 2 + (5 + 5) + (5 + 6)],
    ['builtins.eval', shellPayload('GLOBAL', 'builtins', 'eval', `__import__('os').system("${cmd}")`), 'builtins.eval', 2],
    ['subprocess.Popen', shellPayload('STACK_GLOBAL', 'subprocess', 'Popen', cmd), 'subprocess.Popen', 2 + (5 + 10) + (5 + 5)],
  ];
  if (hasPython) {
    // A class whose __reduce__ returns os.system, pickled by Python itself (it names posix.system).
    const out = await python(`import os, pickle
class Evil:
    def __reduce__(self): return (os.system, (${JSON.stringify(cmd)},))
print(pickle.dumps(Evil(), protocol=2).hex()); print(pickle.dumps(Evil(), protocol=4).hex())`);
    const [p2, p4] = out.split('\n').map((h) => Buffer.from(h, 'hex'));
    cases.push(['__reduce__ of a class, protocol 2', p2!, 'posix.system', 2], ['__reduce__ of a class, protocol 4', p4!, 'posix.system', 28]);
  }
  for (const [what, data, global, offset] of cases) {
    assert.throws(() => unpickle(data, 'evil.bin'), fail(new RegExp(`evil\\.bin at byte ${offset}: refused global '${global.replace('.', '\\.')}' .*NOT executed`), offset), what);
    assert.equal(existsSync(marker), false, `${what}: the payload ran`);
  }
  if (hasPython) {
    // The payloads are live: Python's own pickle runs the first one.
    await fs.writeFile(path.join(dir, 'evil.bin'), cases[0]![1]);
    await python(`import pickle; pickle.load(open(${JSON.stringify(path.join(dir, 'evil.bin'))}, 'rb'))`);
    assert.equal(existsSync(marker), true, 'control: Python runs the payload');
  }
});

test('every truncation of a real file is a FormatError with an offset', async () => {
  const data = await fs.readFile(path.join(sharedData, 'bin', 'small_lfw.bin'));
  const cuts = [0, 1, 2, 5, 40, 66, 70, 151, 156, 5000, data.length - 30, data.length - 1];
  for (let i = 0; i < 200; i++) cuts.push(Math.floor(((i * 7919) % 1000) / 1000 * data.length));
  for (const cut of cuts) {
    assert.throws(() => unpickle(data.subarray(0, cut), 'cut.bin'), (e) => e instanceof FormatError && e.offset !== undefined && e.offset <= cut && /truncated|malformed|STOP/.test(e.message), `cut at ${cut}`);
  }
});

test('absurd declared lengths are errors at the opcode, without allocating', () => {
  const cases: Array<[string, Buffer]> = [
    ['BINBYTES', Buffer.from([0x80, 3, 0x42, 0xf0, 0xff, 0xff, 0xff, 1, 2, 3])],
    ['BINBYTES8', Buffer.concat([Buffer.from([0x80, 4, 0x8e]), Buffer.from('ffffffffffffff7f', 'hex'), Buffer.alloc(8)])],
    ['BYTEARRAY8', Buffer.concat([Buffer.from([0x80, 5, 0x96]), Buffer.from('0000000000000100', 'hex')])],
    ['BINUNICODE8', Buffer.concat([Buffer.from([0x80, 4, 0x8d]), Buffer.from('0000000001000000', 'hex')])],
    ['BINSTRING', Buffer.from([0x80, 2, 0x54, 0x00, 0x00, 0x00, 0x40])],
    ['LONG4', Buffer.from([0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f, 0])],
    ['FRAME', Buffer.concat([Buffer.from([0x80, 4, 0x95]), Buffer.from('00000000ffffffff', 'hex'), Buffer.from('N.')])],
  ];
  for (const [op, data] of cases) assert.throws(() => unpickle(data, 'big.bin'), fail(new RegExp(`^big\\.bin at byte 2: ${op} .*(remain|left)`), 2), op);
  assert.throws(() => unpickle(Buffer.from([0x80, 2, 0x54, 0xff, 0xff, 0xff, 0xff])), fail(/negative length/, 2));
  const hugeInt = Buffer.concat([Buffer.from([0x80, 2, 0x8b]), u32(70_000), Buffer.alloc(70_000, 0xff), Buffer.from('.')]);
  assert.throws(() => unpickle(hugeInt), fail(/70000-byte integer/, 2));
});

test('deep nesting and huge batches neither overflow the stack nor recurse', () => {
  const depth = 300_000; // far beyond what a recursive reader survives (~10k frames)
  const nested = Buffer.concat([Buffer.from([0x80, 2]), Buffer.alloc(depth, 0x5d), Buffer.alloc(depth - 1, 0x61), Buffer.from('.')]);
  let v = unpickle(nested).value;
  let seen = 1;
  while (Array.isArray(v) && v.length === 1) [v, seen] = [v[0]!, seen + 1];
  assert.equal(seen, depth);
  const wide = Buffer.concat([Buffer.from([0x80, 2, 0x5d, 0x28]), Buffer.alloc(depth, 0x4e), Buffer.from('e.')]);
  assert.equal((unpickle(wide).value as PickleValue[]).length, depth);
  assert.throws(() => unpickle(Buffer.concat([Buffer.alloc(depth, 0x28), Buffer.from('.')])), fail(/open MARKs/));
});

test('malformed opcode sequences are FormatErrors naming the opcode', () => {
  const bad: Array<[string, RegExp, number]> = [
    ['8002 61 2e', /APPEND needs a value but the stack is empty/, 2],
    ['8002 4e 4e 61 2e', /APPEND adds to a None, expected a list/, 4],
    ['8002 68 05 2e', /memo entry 5, which was never stored/, 2],
    ['8002 5d 4e 62 2e', /BUILD with a None as state|BUILD on a list/, 4],
    ['8002 4e 29 52 2e', /REDUCE calls a None/, 4],
    ['8004 4e 4e 93 2e', /STACK_GLOBAL needs a module and a name as str, got None and None/, 4],
    ['8002 63 6e756d7079 0a 6e6461727261790a 29 52 2e', /calling numpy\.ndarray is not supported/, 18],
    ['8002 65 2e', /APPENDS without a MARK/, 2],
    ['8006 4e 2e', /protocol 6 is newer than 5/, 0],
    ['8002 ff', /unknown pickle opcode 0xff/, 2],
    ['8002 4e 4e 2e', /STOP with 2 values/, 4],
    ['8005 97 2e', /NEXT_BUFFER is not supported/, 2],
    ['8002 58 02000000 c328 2e', /invalid UTF-8/, 2],
    ['8002 4e', /ends without STOP/, 3],
    ['8002 4e 2e 00', /./, -1],
  ];
  for (const [hex, re, offset] of bad) {
    const data = Buffer.from(hex.replace(/ /g, ''), 'hex');
    if (offset < 0) assert.equal(unpickle(data).end, 4, 'Python ignores bytes after STOP; unpickle reports where it ended');
    else assert.throws(() => unpickle(data), fail(re, offset), hex);
  }
});

test('random corruption of a real file only ever raises FormatError', async () => {
  const data = await fs.readFile(path.join(sharedData, 'bin', 'small_lfw.bin'));
  let seed = 12345;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let i = 0; i < 300; i++) {
    const copy = Buffer.from(data);
    for (let k = 0; k < 1 + rand(4); k++) copy[rand(200) < 150 ? rand(400) : rand(copy.length)] = rand(256);
    try {
      unpickle(copy, 'fuzz.bin');
    } catch (e) {
      assert.ok(e instanceof FormatError, `mutation ${i}: ${String(e)}`);
    }
  }
});
