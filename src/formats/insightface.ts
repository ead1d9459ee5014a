// The insightface dataset layout (MS1M / CASIA "faces_*" folders): train.rec + train.idx +
// property. Images are keys 1..N (class = label, or label[0] when flag > 0); key 0 is a meta record
// (flag 2, label [N+1, N+1+K]); keys N+1..N+K are identity records (flag 2, label = [first, end)
// image keys). Plain im2rec output (no meta record: every record an image) is read too.
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FormatError } from './errors.js';
import { classId, exactInFloat32, packIR, unpackIR, type IRHeader } from './irheader.js';
import { IndexedRecordReader, idxPathFor, readRecords } from './recordio.js';
import { RecordWriter } from './recordio-writer.js';

export type Layout = 'insightface' | 'plain';

/** The `property` file: `classes,height,width`, e.g. `85742,112,112`. */
export interface Property {
  numClasses: number;
  height: number;
  width: number;
}

export interface FaceImage {
  key: number;
  offset: number;
  label: number;
  /** The encoded image (JPEG for the usual datasets): a view into the record, not a copy. */
  image: Buffer;
  header: IRHeader;
}

export async function readProperty(file: string): Promise<Property> {
  const text = (await readFile(file, 'utf8')).trim();
  const v = text.split(',').map((x) => Number(x.trim()));
  if (v.length !== 3 || !v.every((x) => Number.isInteger(x) && x > 0)) {
    throw new FormatError(`expected "classes,height,width" with positive integers (like "85742,112,112"), got ${JSON.stringify(text.slice(0, 60))} — fix or delete the file`, file, 0);
  }
  return { numClasses: v[0]!, height: v[1]!, width: v[2]! };
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/** A dataset folder (train.rec, train.idx, optional property) or a .rec path (its .idx next to it). */
export async function openDataset(location: string, idx?: string): Promise<Dataset> {
  const isDir = (await stat(location)).isDirectory();
  const recPath = isDir ? path.join(location, 'train.rec') : location;
  const idxPath = idx ?? (isDir ? path.join(location, 'train.idx') : idxPathFor(location));
  for (const p of [recPath, idxPath]) {
    if (!(await exists(p))) throw new FormatError(`missing ${path.basename(p)}: a dataset needs a .rec and its .idx side by side — download the dataset again, or point at the right folder`, p);
  }
  const propertyPath = path.join(path.dirname(recPath), 'property');
  const property = (await exists(propertyPath)) ? await readProperty(propertyPath) : undefined;
  const reader = await IndexedRecordReader.open(recPath, idxPath);
  try {
    const meta = reader.has(0) ? unpackIR(await reader.read(0), { file: recPath, offset: reader.offsetOf(0), key: 0 }) : undefined;
    const isMeta = meta !== undefined && meta.header.flag >= 2 && meta.image.length === 0;
    const layout = isMeta ? await insightfaceLayout(reader, meta.header) : await plainLayout(reader, property);
    if (property && property.numClasses !== layout.numClasses) {
      throw new FormatError(`says ${property.numClasses} classes but ${recPath} has ${layout.numClasses} — the property file belongs to another dataset; fix it`, propertyPath, 0);
    }
    return new Dataset(reader, layout, property);
  } catch (e) {
    await reader.close();
    throw e;
  }
}

interface LayoutInfo {
  layout: Layout;
  imageKeys: number[];
  numClasses: number;
  identities?: Array<[number, number]>;
}

async function insightfaceLayout(reader: IndexedRecordReader, meta: IRHeader): Promise<LayoutInfo> {
  const where = { file: reader.file, offset: reader.offsetOf(0), key: 0 };
  const [a, b] = [meta.labels[0]!, meta.labels[1]!];
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || b < a) {
    throw new FormatError(`meta record key 0: label [${a}, ${b}] is not [N+1, N+1+K] with integers — not an insightface dataset, or corrupt`, where.file, where.offset);
  }
  for (let key = 1; key < b; key++) {
    if (!reader.has(key)) throw new FormatError(`key ${key} is missing: the meta record (key 0) promises images 1..${a - 1} and identities ${a}..${b - 1} — regenerate the .idx, or download the dataset again`, reader.idxFile);
  }
  const keys = Array.from({ length: b - a }, (_, c) => a + c);
  const records = await reader.readMany(keys);
  const identities: Array<[number, number]> = [];
  records.forEach((record, c) => {
    const ref = { file: reader.file, offset: reader.offsetOf(keys[c]!), key: keys[c]! };
    const { header, image } = unpackIR(record, ref);
    const [first, end] = [header.labels[0], header.labels[1]];
    const expectFirst = c === 0 ? 1 : identities[c - 1]![1];
    if (header.flag < 2 || image.length > 0 || first !== expectFirst || !Number.isInteger(end) || end! < first! || end! > a) {
      throw new FormatError(`identity record key ${ref.key} (class ${c}): expected label [${expectFirst}, end ≤ ${a}) and no image, got flag ${header.flag} label [${first}, ${end}] — identities must cover images 1..${a - 1} in order; the dataset is corrupt`, ref.file, ref.offset);
    }
    identities.push([first!, end!]);
  });
  if (identities.length > 0 && identities.at(-1)![1] !== a) {
    throw new FormatError(`identity records end at image key ${identities.at(-1)![1]}, but there are images up to key ${a - 1} — the dataset is corrupt`, reader.file, reader.offsetOf(b - 1));
  }
  return { layout: 'insightface', imageKeys: Array.from({ length: a - 1 }, (_, i) => i + 1), numClasses: b - a, identities };
}

// Plain im2rec output has no class count: take `property`, else scan the labels once.
async function plainLayout(reader: IndexedRecordReader, property: Property | undefined): Promise<LayoutInfo> {
  const imageKeys = [...reader.keys];
  if (property) return { layout: 'plain', imageKeys, numClasses: property.numClasses };
  let max = -1;
  for await (const { offset, record } of readRecords(reader.file)) {
    max = Math.max(max, classId(unpackIR(record, { file: reader.file, offset }).header, { file: reader.file, offset }));
  }
  return { layout: 'plain', imageKeys, numClasses: max + 1 };
}

/** What an image record's label must be: a class id below `numClasses`, inside its identity's key range. */
export interface LabelRules {
  /** The .rec, for error messages. */
  file: string;
  numClasses: number;
  /** Per class, the [first, end) image keys (insightface layout only). */
  identities?: Array<[number, number]>;
}

/** Whether `label` (as stored) is a valid class for image `key`: `checkImage`'s test, allocating nothing. */
export function labelFits(rules: LabelRules, key: number, label: number): boolean {
  if (!Number.isInteger(label) || label < 0 || label >= rules.numClasses) return false;
  const range = rules.identities?.[label];
  return !range || (key >= range[0] && key < range[1]);
}

/** Unpacks and checks one image record: label a class id in [0, K), inside its identity range. */
export function checkImage(rules: LabelRules, key: number, offset: number, record: Buffer): FaceImage {
  const ref = { file: rules.file, offset, key };
  const { header, image } = unpackIR(record, ref);
  const label = classId(header, ref);
  if (label >= rules.numClasses) {
    throw new FormatError(`record key ${key}: label ${label} is outside [0, ${rules.numClasses}) — the dataset is corrupt, or its property file is wrong`, ref.file, offset);
  }
  const range = rules.identities?.[label];
  if (range && (key < range[0] || key >= range[1])) {
    throw new FormatError(`record key ${key}: label ${label}, but identity ${label} holds image keys [${range[0]}, ${range[1]}) — the dataset is corrupt`, ref.file, offset);
  }
  return { key, offset, label, image, header };
}

export class Dataset {
  readonly layout: Layout;
  /** Image keys: 1..N for insightface, .idx order for plain files. */
  readonly imageKeys: number[];
  readonly numClasses: number;
  /** Per class, the [first, end) image keys (insightface layout only). */
  readonly identities?: Array<[number, number]>;

  /** What image labels must satisfy; plain data, so it can go to worker threads. */
  readonly rules: LabelRules;

  constructor(private readonly reader: IndexedRecordReader, info: LayoutInfo, readonly property?: Property) {
    this.layout = info.layout;
    this.imageKeys = info.imageKeys;
    this.numClasses = info.numClasses;
    this.identities = info.identities;
    this.rules = { file: reader.file, numClasses: info.numClasses, ...(info.identities ? { identities: info.identities } : {}) };
  }

  get recPath(): string {
    return this.reader.file;
  }

  get idxPath(): string {
    return this.reader.idxFile;
  }

  private isImage(key: number): boolean {
    return this.layout === 'plain' || (key >= 1 && key <= this.imageKeys.length);
  }

  /** Fills each key's record offset and span end (see `IndexedRecordReader.locate`), for readers in other threads. */
  locate(keys: ArrayLike<number>, offsets: Float64Array, ends: Float64Array, at = 0): void {
    this.reader.locate(keys, offsets, ends, at);
  }

  async readImage(key: number): Promise<FaceImage> {
    return (await this.readImages([key]))[0]!;
  }

  /** Several images by key (a training batch): neighbouring records share reads. */
  async readImages(keys: readonly number[]): Promise<FaceImage[]> {
    for (const key of keys) {
      if (!this.isImage(key)) throw new RangeError(`key ${key} is not an image of ${this.reader.file}${this.layout === 'insightface' ? ` (images are keys 1..${this.imageKeys.length})` : ''}`);
    }
    const records = await this.reader.readMany(keys);
    return records.map((r, i) => checkImage(this.rules, keys[i]!, this.reader.offsetOf(keys[i]!), r));
  }

  /** Every image in file order, with large sequential reads: what a converter wants. */
  async *images(): AsyncGenerator<FaceImage> {
    const { index } = this.reader;
    const order = index.fileOrder();
    let next = 0;
    for await (const { offset, record } of readRecords(this.reader.file)) {
      const p = order[next];
      if (p === undefined || index.offsets[p]! !== offset) {
        const why = p === undefined || index.offsets[p]! > offset ? 'that the .idx does not list' : `past the offset ${index.offsets[p]!} that the .idx gives for key ${index.keys[p]}`;
        throw new FormatError(`a record starts here ${why} — the .idx was not made for this .rec; regenerate it`, this.reader.file, offset);
      }
      next++;
      const key = index.keys[p]!;
      if (this.isImage(key)) yield checkImage(this.rules, key, offset, record);
    }
    if (next < order.length) {
      const p = order[next]!;
      throw new FormatError(`the .idx gives byte ${index.offsets[p]} for key ${index.keys[p]}, but no record starts there — the .idx was not made for this .rec; regenerate it`, this.reader.idxFile);
    }
  }

  async close(): Promise<void> {
    await this.reader.close();
  }
}

export interface LabeledImage {
  image: Uint8Array;
  label: number;
}

/**
 * Writes train.rec / train.idx / property in insightface layout from images sorted by class
 * (classes 0, 1, 2, … without gaps): images as keys 1..N, then the identity records, then the
 * meta record 0. train.rec appears only once complete (after train.idx; property last).
 */
export async function writeInsightface(dir: string, items: Iterable<LabeledImage> | AsyncIterable<LabeledImage>, opts: { imageSize?: [number, number] } = {}): Promise<{ numImages: number; numClasses: number }> {
  const recPath = path.join(dir, 'train.rec');
  const writer = await RecordWriter.create(recPath, { idxPath: path.join(dir, 'train.idx') });
  const propertyTemp = path.join(dir, `property.tmp-${process.pid}`);
  try {
    const identities: Array<[number, number]> = [];
    let key = 1;
    for await (const { image, label } of items) {
      const current = identities.length - 1;
      if (label !== current && label !== current + 1) {
        throw new FormatError(`item ${key - 1}: class ${label} after class ${current} — items must be sorted by class, with class ids 0, 1, 2, … without gaps`, recPath);
      }
      if (label === current + 1) identities.push([key, key]);
      await writer.write(packIR({ label, id: key }, image), key);
      identities.at(-1)![1] = ++key;
    }
    const [n, k] = [key - 1, identities.length];
    if (n === 0) throw new FormatError('no images to write', recPath);
    if (!exactInFloat32(n + 1 + k)) throw new FormatError(`${n} images + ${k} classes: keys above 2^24 cannot be stored exactly in float32 labels`, recPath);
    for (let c = 0; c < k; c++) await writer.write(packIR({ label: identities[c]!, id: n + 1 + c }), n + 1 + c);
    await writer.write(packIR({ label: [n + 1, n + 1 + k] }), 0);
    const [h, w] = opts.imageSize ?? [112, 112];
    await writeFile(propertyTemp, `${k},${h},${w}\n`);
    await writer.close();
    await rename(propertyTemp, path.join(dir, 'property'));
    return { numImages: n, numClasses: k };
  } catch (e) {
    await writer.abort();
    await rm(propertyTemp, { force: true });
    throw e;
  }
}
