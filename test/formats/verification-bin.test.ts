// Verification .bin files: the real insightface file, the classic py2 form, each writer form
// round-tripped through this reader and through Python's pickle, bad sets, and read speed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import sharp from 'sharp';
import { FormatError } from '../../src/formats/errors.js';
import { PickleWriter } from '../../src/formats/pickle-writer.js';
import { decodeVerificationBin, readVerificationBin, writeVerificationBin, type VerificationForm, type VerificationSet } from '../../src/formats/verification-bin.js';
import { sharedData, tempDir } from '../helpers.js';

const SMALL_LFW = path.join(sharedData, 'bin', 'small_lfw.bin');
const FORMS: VerificationForm[] = ['py3-bytes', 'py2-str', 'numpy'];
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

const works = async (py: string, code = ''): Promise<boolean> => (await execa(py, ['-c', `import pickle${code}`], { reject: false })).exitCode === 0;
const hasPython = await works('python3');
/** A Python that has numpy, if this machine has one (the plain `python3` usually does not). */
const numpyPython = (await Promise.all(['python3', '/usr/bin/python3'].map(async (py) => ((await works(py, ', numpy')) ? py : undefined)))).find(Boolean);

/** Width and height from a JPEG's SOF marker. */
function jpegSize(b: Buffer): { width: number; height: number } {
  for (let i = 2; i + 9 < b.length; ) {
    if (b[i] !== 0xff) throw new Error(`no marker at ${i}`);
    const marker = b[i + 1]!;
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + b.readUInt16BE(i + 2);
  }
  throw new Error('no SOF marker');
}

test('reads the real small_lfw.bin (numpy arrays of shape (n, 1), protocol 3)', async () => {
  const { images, issame } = await readVerificationBin(SMALL_LFW);
  assert.equal(images.length, 20);
  assert.deepEqual(issame, Array(10).fill(true));
  for (const img of images) {
    assert.deepEqual([...img.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    assert.deepEqual(jpegSize(img), { width: 112, height: 112 });
    assert.equal(img.subarray(-2).toString('hex'), 'ffd9', 'each image ends at its JPEG EOI marker');
  }
  assert.equal(images[0]!.length, 4996);
});

test('reads the classic py2 lfw.bin form (protocol 2, BINSTRING and SHORT_BINSTRING), built by hand', async (t) => {
  const real = (await readVerificationBin(SMALL_LFW)).images;
  const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: 'red' } }).png().toBuffer();
  assert.ok(png.length < 256, 'the PNG goes in a SHORT_BINSTRING');
  const images = [real[0]!, png, real[1]!, real[2]!];
  const str = (b: Buffer): Buffer => (b.length < 256 ? Buffer.concat([Buffer.from([0x55, b.length]), b]) : Buffer.concat([Buffer.from([0x54]), Buffer.from(Uint32Array.of(b.length).buffer), b]));
  // What Python 2's cPickle.dump((bins, issame_list), f, protocol=2) writes, memo entries included.
  const bytes = Buffer.concat([
    Buffer.from([0x80, 2, 0x5d, 0x71, 1, 0x28]), ...images.flatMap((b, i) => [str(b), Buffer.from([0x71, 2 + i])]),
    Buffer.from([0x65, 0x5d, 0x71, 9, 0x28, 0x88, 0x89, 0x65, 0x86, 0x71, 10, 0x2e]),
  ]);
  const file = path.join(await tempDir(t), 'lfw.bin');
  await fs.writeFile(file, bytes);
  const set = await readVerificationBin(file);
  assert.deepEqual(set.issame, [true, false]);
  assert.deepEqual(set.images.map(sha1), images.map(sha1));
});

async function sampleSet(): Promise<VerificationSet> {
  const { images } = await readVerificationBin(SMALL_LFW);
  return { images, issame: images.filter((_, i) => i % 2 === 0).map((_, p) => p % 3 !== 1) };
}

test('each writer form round-trips, atomically and without leftovers', async (t) => {
  const dir = await tempDir(t);
  const set = await sampleSet();
  for (const form of FORMS) {
    const file = path.join(dir, `${form}.bin`);
    await writeVerificationBin(file, set, { form });
    const back = await readVerificationBin(file);
    assert.deepEqual(back.issame, set.issame, form);
    assert.deepEqual(back.images.map(sha1), set.images.map(sha1), form);
    assert.equal((await fs.readFile(file))[1], form === 'py2-str' ? 2 : 3, `${form}: protocol`);
  }
  const bad = { images: [...set.images.slice(0, 19), Buffer.from('GIF89a')], issame: set.issame };
  await assert.rejects(writeVerificationBin(path.join(dir, 'numpy.bin'), bad, { form: 'numpy' }), /image 19 \(pair 9, second image\) is not a JPEG/);
  assert.equal((await readVerificationBin(path.join(dir, 'numpy.bin'))).images.length, 20, 'a failed write leaves the old file');
  assert.deepEqual((await fs.readdir(dir)).sort(), FORMS.map((f) => `${f}.bin`).sort(), 'no temp files left');
});

/** Loads each `file:form` argument in Python; prints per file [sha1 per image, shape per image or null, issame]. */
const PY_LOAD = `
import hashlib, json, pickle, sys
real_numpy = sys.argv[1] == 'numpy'
class Stub:  # stands in for numpy where there is none: records what BUILD gives
    def __init__(self, *args): self.args = args
    def __setstate__(self, state): self.state = state
def reconstruct(cls, shape, code):
    assert cls is Stub and shape == (0,) and code == b'b'
    return Stub()
STUBS = {('numpy.core.multiarray', '_reconstruct'): reconstruct, ('numpy', 'ndarray'): Stub, ('numpy', 'dtype'): Stub}
class Loader(pickle.Unpickler):
    def find_class(self, module, name):
        return super().find_class(module, name) if real_numpy else STUBS[(module, name)]
def data(b):
    if isinstance(b, bytes): return b, None
    if isinstance(b, Stub):
        version, shape, dtype, fortran, raw = b.state
        assert dtype.args == ('u1', False, True) and dtype.state[1] == '|' and not fortran
        return raw, list(shape)
    return b.tobytes(), [list(b.shape), str(b.dtype)]
for arg in sys.argv[2:]:
    file, form = arg.rsplit(':', 1)
    bins, issame = Loader(open(file, 'rb'), encoding='bytes').load()
    out = [data(b) for b in bins]
    print(json.dumps([[hashlib.sha1(d).hexdigest() for d, _ in out], [s for _, s in out], issame]))
`;

test("Python's pickle.load reads every written form", { skip: !hasPython && 'python3 not found' }, async (t) => {
  const dir = await tempDir(t);
  const set = await sampleSet();
  for (const form of FORMS) await writeVerificationBin(path.join(dir, `${form}.bin`), set, { form });
  // The stub-numpy loader refuses every global, so the bytes forms also prove they name none.
  const runs: Array<[string, 'numpy' | 'stub', VerificationForm[]]> = [['python3', 'stub', FORMS]];
  if (numpyPython) runs.push([numpyPython, 'numpy', ['numpy']]);
  else t.diagnostic('no Python with numpy here: the numpy form is checked against a stub of numpy only');
  for (const [py, mode, forms] of runs) {
    const out = (await execa(py, ['-c', PY_LOAD, mode, ...forms.map((f) => `${path.join(dir, `${f}.bin`)}:${f}`)])).stdout.split('\n');
    for (const [i, form] of forms.entries()) {
      const [hashes, shapes, issame] = JSON.parse(out[i]!) as [string[], unknown[], boolean[]];
      assert.deepEqual(hashes, set.images.map(sha1), `${form} via ${py}`);
      assert.deepEqual(issame, set.issame, `${form} via ${py}`);
      const shape = (n: number): unknown => (form !== 'numpy' ? null : mode === 'numpy' ? [[n, 1], 'uint8'] : [n, 1]);
      assert.deepEqual(shapes, set.images.map((b) => shape(b.length)), `${form} via ${py}: shapes`);
    }
  }
});

test('reads what Python writes: bytes at protocols 2 (_codecs.encode), 4 and 5, and numpy arrays if numpy is here', { skip: !hasPython && 'python3 not found' }, async (t) => {
  const dir = await tempDir(t);
  const set = await sampleSet();
  const src = path.join(dir, 'src.bin');
  await writeVerificationBin(src, set, { form: 'py3-bytes' });
  const jobs: Array<[string, string]> = [['python3', 'out = (bins, same)']];
  if (numpyPython) jobs.push([numpyPython, 'import numpy as np; out = ([np.frombuffer(b, np.uint8).reshape(-1, 1) for b in bins], np.array(same))']);
  for (const [py, make] of jobs) {
    const dump = `for p in (2, 4, 5): pickle.dump(out, open(f'${dir}/{tag}-{p}.bin', 'wb'), protocol=p)`;
    const tag = py === 'python3' ? 'bytes' : 'numpy';
    await execa(py, ['-c', `import pickle\nbins, same = pickle.load(open(${JSON.stringify(src)}, 'rb'))\n${make}\ntag = '${tag}'\n${dump}`]);
    for (const p of [2, 4, 5]) {
      const back = await readVerificationBin(path.join(dir, `${tag}-${p}.bin`));
      assert.deepEqual(back.images.map(sha1), set.images.map(sha1), `${tag} protocol ${p}`);
      assert.deepEqual(back.issame, set.issame, `${tag} protocol ${p}`);
    }
  }
});

/** A pickle of `(bins, issame)` assembled from writer calls, for sets the real writer refuses. */
function pickleOf(writeBins: (w: PickleWriter) => void, issame: unknown[]): Buffer {
  const w = new PickleWriter(3);
  writeBins(w);
  w.list(issame, (s) => (s === null ? w.none() : typeof s === 'number' ? w.int(s) : w.bool(s as boolean)));
  return Buffer.concat(w.tuple(2).finish());
}

test('bad sets are FormatErrors naming the file and the image or pair', async (t) => {
  const dir = await tempDir(t);
  const { images } = await readVerificationBin(SMALL_LFW);
  const jpegs = (n: number) => (w: PickleWriter) => w.list(images.slice(0, n), (b) => w.bytes(b));
  const check = (data: Buffer, re: RegExp): void =>
    assert.throws(() => decodeVerificationBin(data, 'set.bin'), (e) => e instanceof FormatError && e.message.startsWith('set.bin') && re.test(e.message), String(re));
  check(pickleOf(jpegs(3), [true]), /3 images for 1 pairs/);
  check(pickleOf(jpegs(4), [true, null]), /issame_list\[1\] \(pair 1\) is a None/);
  assert.deepEqual(decodeVerificationBin(pickleOf(jpegs(4), [1, 0])).issame, [true, false], '0/1 ints are accepted');
  const withBad = (w: PickleWriter): PickleWriter => w.list([...images.slice(0, 5), Buffer.from('not an image')], (b) => w.bytes(b));
  check(pickleOf(withBad, [true, true, true]), /image 5 \(pair 2, second image\) is not a JPEG \(FF D8 FF\) or PNG: it starts with 6e 6f 74 20/);
  const ok = Buffer.concat(new PickleWriter(3).none().finish());
  check(ok, /holds a None, expected a pair \(bins, issame_list\)/);
  await fs.writeFile(path.join(dir, 'empty.bin'), '');
  await fs.writeFile(path.join(dir, 'photo.bin'), images[0]!);
  await assert.rejects(readVerificationBin(path.join(dir, 'empty.bin')), /empty\.bin at byte 0: the pickle ends without STOP/);
  await assert.rejects(readVerificationBin(path.join(dir, 'photo.bin')), /photo\.bin at byte 0: unknown pickle opcode 0xff/);
  check(Buffer.concat([pickleOf(jpegs(2), [true]), Buffer.from('junk')]), /4 bytes follow the end of the pickle/);
  assert.throws(() => decodeVerificationBin(Buffer.concat([pickleOf(jpegs(2), [true]), Buffer.from('x')]), 'set.bin'), (e) => e instanceof FormatError && e.offset === pickleOf(jpegs(2), [true]).length);
});

test('numpy images must be uint8 with shape (n,) or (n, 1)', () => {
  const array = (descr: string, shape: number[], data: Buffer, module = 'numpy.core.multiarray') => (w: PickleWriter): PickleWriter => w.list([data, data], () => {
    w.global(module, '_reconstruct').global('numpy', 'ndarray').int(0).tuple(1).bytes(Buffer.from('b')).tuple(3).reduce();
    w.mark().int(1);
    for (const d of shape) w.int(d);
    w.tuple(shape.length);
    w.global('numpy', 'dtype').unicode(descr).bool(false).bool(true).tuple(3).reduce();
    w.mark().int(3).unicode('<').none().none().none().int(-1).int(-1).int(0).tuple(8).build();
    w.bool(false).bytes(data).tuple(5).build();
  });
  const jpeg = Buffer.from('ffd8ffe0000000000000000000000000', 'hex');
  assert.equal(decodeVerificationBin(pickleOf(array('u1', [16], jpeg), [true])).images[1]!.length, 16);
  assert.ok(decodeVerificationBin(pickleOf(array('u1', [16, 1], jpeg, 'numpy._core.multiarray'), [true])).images[0]!.equals(jpeg), 'numpy 2 names');
  assert.throws(() => decodeVerificationBin(pickleOf(array('i4', [4], jpeg), [true]), 'set.bin'), /image 0 \(pair 0, first image\) is a numpy array of dtype i4 and shape \(4\)/);
  assert.throws(() => decodeVerificationBin(pickleOf(array('u1', [4, 4], jpeg), [true]), 'set.bin'), /shape \(4, 4\); expected uint8 with shape/);
  assert.throws(() => decodeVerificationBin(pickleOf(array('u1', [17], jpeg), [true]), 'set.bin'), /shape \(17\) and dtype u1 needs 17 bytes but holds 16/);
});

test('reads a 12,000-image set (the size of lfw.bin) quickly', async (t) => {
  const dir = await tempDir(t);
  const { images } = await readVerificationBin(SMALL_LFW);
  const set: VerificationSet = { images: Array.from({ length: 12_000 }, (_, i) => images[i % 20]!), issame: Array.from({ length: 6000 }, (_, p) => p % 2 === 0) };
  for (const form of ['numpy', 'py2-str'] as const) {
    const file = path.join(dir, `${form}.bin`);
    let start = performance.now();
    await writeVerificationBin(file, set, { form });
    const writeMs = performance.now() - start;
    start = performance.now();
    const back = await readVerificationBin(file);
    const readMs = performance.now() - start;
    const mb = (await fs.stat(file)).size / 1e6;
    assert.equal(back.images.length, 12_000);
    assert.ok(back.images[11_999]!.equals(images[19]!));
    t.diagnostic(`${form}: ${mb.toFixed(1)} MB; read ${readMs.toFixed(0)} ms (${(12_000 / readMs * 1000).toFixed(0)} images/s, ${(mb / readMs * 1000).toFixed(0)} MB/s); write ${writeMs.toFixed(0)} ms`);
    assert.ok(readMs < 5000, `reading took ${readMs} ms`);
  }
});
