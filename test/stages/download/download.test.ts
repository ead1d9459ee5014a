import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { facepipe, tempDir, writeFiles } from '../../helpers.js';
import { startServer } from './server.js';

interface Summary {
  stages: { name: string; status: string; key: string; outDir: string | null; metrics: Record<string, unknown> }[];
}

const FAST = { FACEPIPE_DOWNLOAD_BACKOFF_MS: '10' };
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function runJson(dir: string, env: Record<string, string> = FAST): Promise<{ code: number; s?: Summary; all: string }> {
  const r = await facepipe(['run', 'p.yaml', '--json'], { cwd: dir, env });
  return { code: r.exitCode ?? -1, s: r.exitCode === 0 ? (JSON.parse(r.stdout) as Summary) : undefined, all: r.all ?? '' };
}

function pipeline(w: string): string {
  return `stages:\n  data:\n    uses: download\n    with:\n${w.split('\n').map((l) => `      ${l}`).join('\n')}\n`;
}

async function server(t: TestContext, files: Parameters<typeof startServer>[0]) {
  const s = await startServer(files);
  t.after(() => s.close());
  return s;
}

test('dropped connections are resumed with Range requests and the file arrives whole', async (t) => {
  const body = randomBytes(3 << 20);
  const srv = await server(t, { '/lfw.bin': { body, etag: '"v1"' } });
  srv.dropNext(2, 1 << 20);
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': pipeline(`url: ${srv.url('/lfw.bin')}\nsha256: ${sha256(body)}`) });
  const { code, s, all } = await runJson(dir);
  assert.equal(code, 0, all);
  const out = s!.stages[0]!;
  assert.ok((await readFile(path.join(out.outDir!, 'lfw.bin'))).equals(body));
  // Each retry asks for the rest from where the received bytes end (what was in flight is lost).
  const starts = srv.requests.map((r) => Number(/^bytes=(\d+)-$/.exec(r.range ?? 'bytes=0-')![1]));
  assert.equal(starts.length, 3);
  assert.ok(starts[0] === 0 && starts[1]! > 0 && starts[1]! <= 1 << 20 && starts[2]! > starts[1]! && starts[2]! <= 2 << 20, `ranges ${starts}`);
  assert.equal(out.metrics.attempts, 3);
  assert.equal(out.metrics.sha256, sha256(body));
});

test('an interrupted download is resumed by the next run, from the work folder', async (t) => {
  const body = randomBytes(2 << 20);
  const srv = await server(t, { '/faces.bin': { body, etag: '"e"' } });
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': pipeline(`url: ${srv.url('/faces.bin')}`) });
  srv.dropNext(1, 700_000);
  const first = await runJson(dir, { ...FAST, FACEPIPE_DOWNLOAD_RETRIES: '0' });
  assert.equal(first.code, 1);
  const at = Number(/connection (?:lost|closed) at byte (\d+)/.exec(first.all)?.[1]);
  assert.ok(at > 0 && at <= 700_000, first.all);
  const second = await runJson(dir);
  assert.equal(second.code, 0, second.all);
  assert.equal(srv.requests.at(-1)!.range, `bytes=${at}-`, 'the second run resumes where the first stopped');
  assert.ok((await readFile(path.join(second.s!.stages[0]!.outDir!, 'faces.bin'))).equals(body));
});

test('a checksum mismatch fails clearly, drops the bad file, and a mirror is tried first', async (t) => {
  const good = randomBytes(100_000);
  const srv = await server(t, { '/a.bin': { body: randomBytes(100_000), etag: '"x"' }, '/gone.bin': { body: Buffer.alloc(0), status: 404 } });
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': pipeline(`url: ${srv.url('/gone.bin')}\nmirrors: [${srv.url('/a.bin')}]\nsha256: ${sha256(good)}`) });
  const r = await runJson(dir);
  assert.equal(r.code, 1);
  assert.match(r.all, /gone\.bin: .*HTTP 404/);
  assert.match(r.all, new RegExp(`sha256 mismatch for .*a\\.bin: expected ${sha256(good)}, got [0-9a-f]{64}`));
  assert.equal(srv.requests.filter((q) => q.path === '/gone.bin').length, 1, 'a 404 is not retried');
});

function python(script: string, cwd: string): void {
  execFileSync('python3', ['-c', script], { cwd });
}

test('a zip64 archive with a top folder is unpacked into the dataset folder', async (t) => {
  const dir = await tempDir(t);
  python(
    `import zipfile
with zipfile.ZipFile('faces_emore.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('faces_emore/', '')
    with z.open('faces_emore/property', 'w', force_zip64=True) as f: f.write(b'85742,112,112')
    z.writestr('faces_emore/sub/lfw.bin', b'x' * 5000)`,
    dir,
  );
  const zipBytes = await readFile(path.join(dir, 'faces_emore.zip'));
  const srv = await server(t, { '/faces_emore.zip': { body: zipBytes, etag: '"z"' } });
  await writeFiles(dir, { 'p.yaml': pipeline(`url: ${srv.url('/faces_emore.zip')}`) });
  const { code, s, all } = await runJson(dir);
  assert.equal(code, 0, all);
  const out = s!.stages[0]!.outDir!;
  assert.deepEqual((await readdir(out)).sort(), ['property', 'sub']);
  assert.equal(await readFile(path.join(out, 'property'), 'utf8'), '85742,112,112');
  assert.equal((await stat(path.join(out, 'sub', 'lfw.bin'))).size, 5000);
});

test('archive entries that escape the target folder are refused and nothing is written outside', async (t) => {
  const dir = await tempDir(t);
  python(
    `import tarfile, io
with tarfile.open('evil.tar.gz', 'w:gz') as tf:
    for name in ['ok.txt', '../escaped.txt']:
        data = b'hello'
        info = tarfile.TarInfo(name); info.size = len(data)
        tf.addfile(info, io.BytesIO(data))`,
    dir,
  );
  await writeFiles(dir, { 'p.yaml': pipeline('path: evil.tar.gz') });
  const r = await runJson(dir);
  assert.equal(r.code, 1);
  assert.match(r.all, /evil\.tar\.gz: 1 unsafe entry: .*'\.\.\/escaped\.txt' would be written outside the target folder/);
  assert.equal(existsSync(path.join(dir, 'runs', '.facepipe', 'tmp', 'escaped.txt')), false);
  const tmpEntries = await readdir(path.join(dir, 'runs', '.facepipe', 'tmp')).catch(() => []);
  assert.deepEqual(tmpEntries, [], 'the failed attempt left nothing behind');
});

test('a folder on disk is hard-linked into the store; its content is in the key', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'data/faces_webface/property': '10572,112,112', 'data/faces_webface/lfw.bin': 'bin', 'p.yaml': pipeline('path: data/faces_webface') });
  const first = await runJson(dir);
  assert.equal(first.code, 0, first.all);
  const out = first.s!.stages[0]!;
  assert.equal(out.metrics.files, 2);
  assert.equal(out.metrics.linked, 2);
  const src = await stat(path.join(dir, 'data/faces_webface/property'));
  assert.equal((await stat(path.join(out.outDir!, 'property'))).ino, src.ino);
  await writeFile(path.join(dir, 'data/faces_webface/extra.bin'), 'new');
  const second = await runJson(dir);
  assert.equal(second.s!.stages[0]!.status, 'ran', 'a new file in the input folder changes the key');
  assert.notEqual(second.s!.stages[0]!.key, out.key);
});

test('url and path together are a config error', async (t) => {
  const dir = await tempDir(t);
  await writeFiles(dir, { 'p.yaml': pipeline('url: http://127.0.0.1:1/x.zip\npath: x') });
  const r = await facepipe(['validate', 'p.yaml'], { cwd: dir });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /p\.yaml:5:7 +stages\.data\.with: got a mapping, which matches none of the allowed forms/);
});
