import assert from 'node:assert/strict';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { FormatError } from '../../src/formats/errors.js';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../../src/eval/npy.js';
import { tempDir } from '../helpers.js';

/** What numpy 2.4's np.save wrote for np.zeros((2, 3), np.float32), header only. */
const NUMPY_HEADER_2x3 = `\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }${' '.repeat(58)}\n`;

/** A .npy file with a hand-made header (any version, any dict text) and `data` after it. */
function npyWith(dict: string, data: Buffer, version = 1): Buffer {
  const lenBytes = version === 1 ? 2 : 4;
  const body = Buffer.from(`${dict}\n`, version === 3 ? 'utf8' : 'latin1');
  const prefix = Buffer.alloc(8 + lenBytes);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(prefix);
  if (version === 1) prefix.writeUInt16LE(body.length, 8);
  else prefix.writeUInt32LE(body.length, 8);
  return Buffer.concat([prefix, body, data]);
}

const f32 = (...xs: number[]): Buffer => Buffer.from(new Float32Array(xs).buffer);

test('writes the exact bytes np.save writes, and reads them back', async (t) => {
  const m = { rows: 2, cols: 3, data: Float32Array.from([1, -2.5, 3e-39, Infinity, NaN, 7]) };
  const bytes = encodeNpy(m);
  assert.equal(bytes.subarray(0, 128).toString('latin1'), NUMPY_HEADER_2x3);
  assert.equal(bytes.length, 128 + 24);
  assert.deepEqual(bytes.subarray(128), f32(1, -2.5, 3e-39, Infinity, NaN, 7));

  const dir = await tempDir(t);
  const file = path.join(dir, 'lfw.emb.npy');
  await writeNpy(file, m);
  assert.deepEqual(await readFile(file), bytes);
  assert.deepEqual(await readdir(dir), ['lfw.emb.npy'], 'no temporary file left behind');
  const back = await readNpy(file);
  assert.equal(back.rows, 2);
  assert.equal(back.cols, 3);
  assert.deepEqual([...back.data], [...m.data]);
});

test('every header is padded to 64 bytes, with room for a 21-digit first axis', () => {
  for (const [rows, cols] of [[0, 512], [14000, 512], [1, 1], [123456789012, 0]] as const) {
    const bytes = encodeNpy({ rows, cols, data: new Float32Array(rows * cols) });
    const hlen = bytes.readUInt16LE(8);
    assert.equal((10 + hlen) % 64, 0);
    const dict = bytes.toString('latin1', 10, 10 + hlen);
    assert.ok(dict.startsWith(`{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`));
    assert.equal(dict.length, 118, 'numpy pads these shapes to 128 bytes');
    assert.deepEqual(decodeNpy(bytes).data.length, rows * cols);
  }
  assert.throws(() => encodeNpy({ rows: 2, cols: 2, data: new Float32Array(3) }), /does not match 3 values/);
});

test('reads format 2.0 and 3.0 headers, Python 2 headers and data at an unaligned offset', () => {
  const data = f32(1, 2, 3, 4, 5, 6);
  for (const version of [1, 2, 3]) {
    const m = decodeNpy(npyWith(`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }`, data, version));
    assert.deepEqual([m.rows, m.cols, ...m.data], [3, 2, 1, 2, 3, 4, 5, 6], `version ${version}`);
  }
  const py2 = decodeNpy(npyWith(`{"shape": (2L, 3L), "fortran_order": False, "descr": "<f4"}`, data));
  assert.deepEqual([py2.rows, py2.cols], [2, 3]);
  // 13 header bytes: the data starts at an offset that is not a multiple of 4.
  const odd = decodeNpy(npyWith(`{'descr':'<f4','fortran_order':False,'shape':(1,6)}`, data));
  assert.deepEqual([...odd.data], [1, 2, 3, 4, 5, 6]);
});

test('other dtypes, orders, shapes and damaged files are errors that name the file', async (t) => {
  const dir = await tempDir(t);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['f8', npyWith(`{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }`, Buffer.alloc(8)), /dtype '<f8' is not supported/],
    ['be', npyWith(`{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }`, Buffer.alloc(4)), /dtype '>f4'/],
    ['fortran', npyWith(`{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }`, Buffer.alloc(4)), /Fortran-order/],
    ['1d', npyWith(`{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }`, Buffer.alloc(16)), /expected a 2-D array, got shape \(4\)/],
    ['short', npyWith(`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }`, Buffer.alloc(12)), /needs 16 data bytes, the file has 12/],
    ['struct', npyWith(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1), }`, Buffer.alloc(4)), /unsupported value \[ for 'descr'/],
    ['keys', npyWith(`{'descr': '<f4', 'shape': (1, 1), }`, Buffer.alloc(4)), /needs 'descr'/],
    ['magic', Buffer.from('PK\x03\x04 not numpy at all'), /no \\x93NUMPY magic/],
    ['version', Buffer.from('\x93NUMPY\x04\x00\x00\x00', 'latin1'), /format version 4\.0/],
    ['cut', npyWith(`{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }`, Buffer.alloc(0)).subarray(0, 30), /truncated header/],
  ];
  for (const [name, bytes, message] of cases) {
    const file = path.join(dir, `${name}.npy`);
    await writeFile(file, bytes);
    await assert.rejects(readNpy(file), (e: unknown) => {
      assert.ok(e instanceof FormatError, name);
      assert.match(e.message, message, name);
      assert.ok(e.message.startsWith(file), `${name}: ${e.message}`);
      return true;
    });
  }
});
