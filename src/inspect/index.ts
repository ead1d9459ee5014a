// `facepipe inspect <file>`: recognises .rec/.idx, .tfrecord and .bin by name, or by content.
import { open } from 'node:fs/promises';
import { ConfigError } from '../config/diagnostics.js';
import { inspectBin } from './bin.js';
import { inspectRec } from './rec.js';
import type { InspectReport } from './report.js';
import { inspectTfRecord } from './tfrecord.js';

async function sniff(file: string): Promise<'rec' | 'tfrecord' | 'bin' | undefined> {
  if (/\.(rec|idx)$/i.test(file)) return 'rec';
  if (/\.tfrecords?$/i.test(file) || /-\d{5}-of-\d{5}/.test(file)) return 'tfrecord';
  if (/\.bin$/i.test(file)) return 'bin';
  const fh = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    if (bytesRead === 4 && buffer.readUInt32LE(0) === 0xced7230a) return 'rec';
    if (bytesRead >= 2 && buffer[0] === 0x80 && buffer[1]! >= 2) return 'bin';
  } finally {
    await fh.close();
  }
  return undefined;
}

export async function inspect(file: string, head = 5): Promise<InspectReport> {
  const kind = await sniff(file).catch((e: Error) => {
    throw ConfigError.one({ message: `cannot read ${file}: ${e.message}` });
  });
  switch (kind) {
    case 'rec':
      return inspectRec(file, head);
    case 'tfrecord':
      return inspectTfRecord(file, head);
    case 'bin':
      return inspectBin(file, head);
    default:
      throw ConfigError.one({ message: `${file}: not a format facepipe knows`, fix: 'inspect reads MXNet .rec/.idx, TFRecord (.tfrecord) and verification .bin files' });
  }
}
