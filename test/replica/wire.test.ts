// Frames over a real Unix socket: any chunking arrives whole and in order, payloads are exact and
// their buffers reused, a wrong byte stream or a closed peer is an error rather than a hang.
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FrameReader, float32Views, sendFrame, startFrame } from '../../src/replica/wire.js';

async function pair(t: { after(f: () => void): void }): Promise<[Socket, Socket]> {
  const file = path.join(os.tmpdir(), `facepipe-wire-${process.pid}-${Math.random().toString(16).slice(2)}.sock`);
  const server = createServer();
  await new Promise<void>((r) => server.listen(file, r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const client = await new Promise<Socket>((r) => { const s = connect(file, () => r(s)); });
  const srv = await accepted;
  t.after(() => { client.destroy(); srv.destroy(); server.close(); });
  return [client, srv];
}

test('frames arrive whole, in order, with exact float32 payloads, however the bytes are cut', async (t) => {
  const [a, b] = await pair(t);
  const reader = new FrameReader(b, 'peer');
  const big = new Float32Array(3_000_001).map((_, i) => Math.sin(i));
  const small = new Float32Array([1.5, -2.25]);
  const labels = new Int32Array([7, 8, 9]);
  const sent = await Promise.all([
    sendFrame(a, 'hello', { index: 1 }),
    sendFrame(a, 'grads', { computeMs: 3 }, [big, small]),
    sendFrame(a, 'step', { micro: [3] }, [labels]),
  ]);
  assert.equal(sent[1], 16 + JSON.stringify({ computeMs: 3 }).length + big.byteLength + small.byteLength);
  const hello = await reader.next();
  assert.deepEqual([hello.kind, hello.meta, hello.payload.length], ['hello', { index: 1 }, 0]);
  const g = await reader.next();
  assert.equal(g.kind, 'grads');
  const [x, y] = float32Views(g.payload, [big.length, small.length]);
  assert.deepEqual([x!.length, x![12345], x!.at(-1), [...y!]], [big.length, big[12345], big.at(-1), [1.5, -2.25]]);
  assert.ok(x!.every((v, i) => v === big[i]));
  const s = await reader.next();
  assert.deepEqual([...new Int32Array(s.payload.buffer, s.payload.byteOffset, 3)], [7, 8, 9]);
  // A released payload is the buffer the next frame of its size lands in.
  reader.release(g.payload);
  await sendFrame(a, 'grads', {}, [big.map((v) => -v), small]);
  const g2 = await reader.next();
  assert.equal(g2.payload.buffer, g.payload.buffer);
  assert.equal(float32Views(g2.payload, [2])[0]![1], -big[1]!);
  // The same bytes, one byte per write: header, JSON and payload each split across chunks.
  const bytes: Buffer[] = [];
  const tap = { write: (x: Buffer, cb: () => void) => { bytes.push(Buffer.from(x)); cb(); } } as unknown as Socket;
  await sendFrame(tap, 'step', { micro: [2] }, [new Int32Array([5, 6])]);
  for (const byte of Buffer.concat(bytes)) a.write(Buffer.from([byte]));
  const one = await reader.next();
  assert.deepEqual([one.kind, one.meta, [...new Int32Array(one.payload.buffer, one.payload.byteOffset, 2)]], ['step', { micro: [2] }, [5, 6]]);
});

test('a frame whose parts are sent later, one by one, is one frame; a short or long one is refused', async (t) => {
  const [a, b] = await pair(t);
  const reader = new FrameReader(b, 'peer');
  const f = startFrame(a, 'weights', {}, 12);
  f.part(new Float32Array([1]));
  setTimeout(() => f.part(new Float32Array([2, 3])), 20);
  const got = reader.next();
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(await f.done(), 16 + 2 + 12);
  assert.deepEqual([...float32Views((await got).payload, [3])[0]!], [1, 2, 3]);
  const short = startFrame(a, 'weights', {}, 8);
  short.part(new Float32Array([1]));
  await assert.rejects(short.done(), /4 payload bytes sent, 8 announced/);
  const long = startFrame(a, 'weights', {}, 4);
  assert.throws(() => long.part(new Float32Array([1, 2])), /8 payload bytes, 4 announced/);
});

test('a byte stream that is not frames, or a peer that goes away, rejects next() instead of hanging', async (t) => {
  const [a, b] = await pair(t);
  const reader = new FrameReader(b, 'replica 3');
  a.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  await assert.rejects(reader.next(), /replica 3: not a facepipe replica frame/);
  const [c, d] = await pair(t);
  const r2 = new FrameReader(d, 'replica 1');
  const pending = r2.next();
  c.destroy();
  await assert.rejects(pending, /replica 1: the connection closed/);
  await assert.rejects(r2.next(), /the connection closed/);
});
