// `download`: a dataset from a URL (resumable, retried, checksummed, unpacked) or from disk.
import type { StageKind } from '../../src/stage-api.js';

export interface DownloadParams {
  url?: string;
  mirrors?: string[];
  path?: string;
  sha256?: string;
  md5?: string;
  extract?: 'auto' | 'zip' | 'tar' | 'tar.gz' | 'none';
  strip_top_folder?: boolean;
  filename?: string;
}

export const kind: StageKind<DownloadParams> = {
  version: '1',
  description: 'fetch a dataset (URL or path), verify its checksum, unpack it',
  // The partial download lives in the work folder, so a re-run resumes it.
  persistentWork: true,
  async run(ctx) {
    const { runDownload } = await import('./run.js');
    await runDownload(ctx);
  },
};
