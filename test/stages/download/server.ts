// A local HTTP server on 127.0.0.1 for download tests: Range requests, ETags, and connections
// dropped mid-transfer on demand.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Served {
  body: Buffer;
  etag?: string;
  status?: number;
}

export interface TestServer {
  url(path: string): string;
  /** Every request: path and Range header. */
  requests: { path: string; range?: string }[];
  /** The next `count` responses close the connection after `afterBytes` body bytes. */
  dropNext(count: number, afterBytes: number): void;
  close(): Promise<void>;
}

export async function startServer(files: Record<string, Served>): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  let drops = 0;
  let dropAfter = 0;
  const server: Server = createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ path: p, range: req.headers.range });
    const f = files[p];
    if (!f || f.status) {
      res.writeHead(f?.status ?? 404).end();
      return;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && (!ifRange || ifRange === f.etag)) {
      start = Number(range[1]);
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${f.body.length - 1}/${f.body.length}`, 'Content-Length': f.body.length - start, ...(f.etag ? { ETag: f.etag } : {}) });
    } else {
      res.writeHead(200, { 'Content-Length': f.body.length, 'Accept-Ranges': 'bytes', ...(f.etag ? { ETag: f.etag } : {}) });
    }
    const rest = f.body.subarray(start);
    if (drops > 0) {
      drops--;
      res.write(rest.subarray(0, dropAfter), () => res.destroy());
      return;
    }
    res.end(rest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    requests,
    dropNext(count, afterBytes) {
      drops = count;
      dropAfter = afterBytes;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
