// A folder of face images with one sub-folder per identity (the layout of ORL, LFW, VGGFace2 and
// most people's own photos). Identities and images are taken in code-point order of their names,
// so class ids never depend on the file system's listing order or the locale.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { StageFailure } from '../stage-api.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.pgm'];

export interface Identity {
  name: string;
  /** Image paths relative to the root folder, posix separators. */
  images: string[];
}

export interface ImageFolder {
  root: string;
  identities: Identity[];
  /** Files that are not images (README, .DS_Store, Thumbs.db …): skipped, and counted. */
  ignored: string[];
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export async function scanImageFolder(root: string): Promise<ImageFolder> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    throw new StageFailure(`cannot read the image folder ${root}: ${(e as Error).message}`);
  }
  const identities: Identity[] = [];
  const ignored: string[] = [];
  for (const e of entries.sort((a, b) => byCodePoint(a.name, b.name))) {
    if (e.name.startsWith('.')) continue;
    if (!e.isDirectory()) {
      ignored.push(e.name);
      continue;
    }
    const files = (await readdir(path.join(root, e.name), { withFileTypes: true })).filter((f) => !f.name.startsWith('.')).sort((a, b) => byCodePoint(a.name, b.name));
    const images = files.filter((f) => f.isFile() && IMAGE_EXTENSIONS.includes(path.extname(f.name).toLowerCase())).map((f) => `${e.name}/${f.name}`);
    ignored.push(...files.filter((f) => !images.includes(`${e.name}/${f.name}`)).map((f) => `${e.name}/${f.name}`));
    if (images.length > 0) identities.push({ name: e.name, images });
  }
  if (identities.length === 0) {
    throw new StageFailure(`no identity folders with images in ${root}: expected one sub-folder per person holding ${IMAGE_EXTENSIONS.join('/')} files`);
  }
  return { root, identities, ignored };
}
