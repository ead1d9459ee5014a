// Frames between the training coordinator and its replica processes, over a Unix domain socket:
// a 16-byte header (kind, JSON length, payload length), a small JSON body, then the payload as raw
// bytes. Weights, gradients and pixels are float32 arrays that go out as views of their own memory
// (no JSON, no structured clone: Node's IPC channel would serialise and copy them) and arrive in
// one buffer per frame, reused from frame to frame once the reader is told it is free.
// Written by hand: no npm package frames large binary messages over a local stream without copies.
import type { Socket } from 'node:net';

const HEADER = 16;
const MAGIC = 0x46505250; // 'FPRP'

export interface Frame<M = Record<string, unknown>> {
  kind: string;
  meta: M;
  payload: Buffer;
}

const KINDS = ['hello', 'init', 'ready', 'weights', 'step', 'grads', 'error', 'exit'] as const;
export type FrameKind = (typeof KINDS)[number];

/** Bytes of a frame with this payload, as counted in transfer statistics. */
export const frameBytes = (jsonBytes: number, payloadBytes: number): number => HEADER + jsonBytes + payloadBytes;

/**
 * Starts a frame of `payloadBytes` bytes and returns a function that appends its payload, part by
 * part, as views (not copies): the caller must not change a part until `done` resolves. Parts may
 * come later than the header (a weight is sent as soon as it is updated); together they must add
 * up to exactly `payloadBytes`.
 */
export function startFrame(sock: Socket, kind: FrameKind, meta: unknown, payloadBytes: number): { part(b: ArrayBufferView): void; done(): Promise<number> } {
  const json = Buffer.from(JSON.stringify(meta));
  if (json.length > 0xffff) throw new Error(`frame '${kind}': ${json.length} bytes of JSON (at most 65535): send data as payload`);
  const head = Buffer.allocUnsafe(HEADER + json.length);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt16LE(KINDS.indexOf(kind), 4);
  head.writeUInt16LE(json.length, 6);
  head.writeDoubleLE(payloadBytes, 8);
  json.copy(head, HEADER);
  let sent = 0;
  let last: Promise<void> = write(sock, head);
  return {
    part(b) {
      if (b.byteLength === 0) return;
      sent += b.byteLength;
      if (sent > payloadBytes) throw new Error(`frame '${kind}': ${sent} payload bytes, ${payloadBytes} announced`);
      last = write(sock, Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    },
    async done() {
      if (sent !== payloadBytes) throw new Error(`frame '${kind}': ${sent} payload bytes sent, ${payloadBytes} announced`);
      await last;
      return head.length + payloadBytes;
    },
  };
}

/** A whole frame at once. Resolves with its size in bytes once the socket has taken it. */
export function sendFrame(sock: Socket, kind: FrameKind, meta: unknown, parts: readonly ArrayBufferView[] = []): Promise<number> {
  const f = startFrame(sock, kind, meta, parts.reduce((a, b) => a + b.byteLength, 0));
  for (const p of parts) f.part(p);
  return f.done();
}

function write(sock: Socket, b: Buffer): Promise<void> {
  // The callback fires once the kernel has the bytes (or the socket failed). Only the last write's
  // promise is awaited (done()); a failure of an earlier one also fails every later one, and shows
  // on the socket's 'close', where the reader reports it.
  const p = new Promise<void>((resolve, reject) => sock.write(b, (e) => (e ? reject(e) : resolve())));
  p.catch(() => undefined);
  return p;
}

/** Reads frames off a socket, in order. `next()` waits for the next one; a closed socket rejects. */
export class FrameReader {
  private head = Buffer.alloc(0);
  private cur: { kind: string; meta: Record<string, unknown>; payload: Buffer; filled: number } | undefined;
  private readonly frames: Frame[] = [];
  private waiting: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;
  /** Payload buffers handed back with `release`, by size: the next frame of that size reuses one. */
  private readonly spare = new Map<number, Buffer[]>();
  bytes = 0;

  constructor(sock: Socket, private readonly name: string) {
    sock.on('data', (chunk: Buffer) => {
      try {
        this.consume(chunk);
      } catch (e) {
        this.fail(e as Error);
        sock.destroy();
      }
    });
    sock.on('close', () => this.fail(new Error(`${name}: the connection closed`)));
    sock.on('error', (e) => this.fail(new Error(`${name}: ${e.message}`)));
  }

  next(): Promise<Frame> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** The payload of a consumed frame may be overwritten by a later frame of the same size. */
  release(payload: Buffer): void {
    const list = this.spare.get(payload.length) ?? [];
    if (list.length < 2) list.push(payload);
    this.spare.set(payload.length, list);
  }

  private fail(e: Error): void {
    this.ended ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.ended);
  }

  private consume(chunk: Buffer): void {
    this.bytes += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      if (!this.cur) {
        const need = HEADER + (this.head.length >= HEADER ? this.head.readUInt16LE(6) : 0);
        const take = Math.min(chunk.length - at, Math.max(HEADER, need) - this.head.length);
        this.head = Buffer.concat([this.head, chunk.subarray(at, at + take)]);
        at += take;
        if (this.head.length < HEADER) continue;
        if (this.head.readUInt32LE(0) !== MAGIC) throw new Error(`${this.name}: not a facepipe replica frame (bad magic)`);
        const jsonLen = this.head.readUInt16LE(6);
        if (this.head.length < HEADER + jsonLen) continue;
        const kind = KINDS[this.head.readUInt16LE(4)];
        if (!kind) throw new Error(`${this.name}: unknown frame kind ${this.head.readUInt16LE(4)}`);
        const len = this.head.readDoubleLE(8);
        const meta = JSON.parse(this.head.subarray(HEADER, HEADER + jsonLen).toString('utf8')) as Record<string, unknown>;
        this.head = Buffer.alloc(0);
        this.cur = { kind, meta, payload: this.spare.get(len)?.pop() ?? Buffer.allocUnsafe(len), filled: 0 };
      }
      const c = this.cur;
      const take = Math.min(chunk.length - at, c.payload.length - c.filled);
      chunk.copy(c.payload, c.filled, at, at + take);
      c.filled += take;
      at += take;
      if (c.filled === c.payload.length) {
        this.cur = undefined;
        this.deliver({ kind: c.kind, meta: c.meta, payload: c.payload });
      }
    }
  }

  private deliver(f: Frame): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w) w.resolve(f);
    else this.frames.push(f);
  }
}

/** Float32 views over a payload, one per shape, in order (the payload is 4-byte aligned: Node's
 *  allocUnsafe buffers of this size are their own ArrayBuffers). */
export function float32Views(payload: Buffer, sizes: readonly number[], offsetBytes = 0): Float32Array[] {
  let at = payload.byteOffset + offsetBytes;
  return sizes.map((n) => {
    const v = new Float32Array(payload.buffer, at, n);
    at += n * 4;
    return v;
  });
}
