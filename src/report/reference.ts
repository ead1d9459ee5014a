// The original TF2 project's published verification accuracies for its three models (its README
// table: `dbname | accuracy`), so a re-trained model can be shown beside the number it is meant
// to reproduce. Four decimals, as published.

export const REFERENCE_NAMES = ['model-a', 'model-b', 'model-c'] as const;
export type ReferenceName = (typeof REFERENCE_NAMES)[number];

export interface Reference {
  name: ReferenceName;
  /** What the published model was: shown next to the numbers. */
  description: string;
  accuracy: Readonly<Record<string, number>>;
}

export const REFERENCES: Readonly<Record<ReferenceName, Reference>> = {
  'model-a': { name: 'model-a', description: 'CASIA-WebFace, batch norm', accuracy: { lfw: 0.9772, cfp_ff: 0.9793, cfp_fp: 0.8786, agedb_30: 0.8752 } },
  'model-b': { name: 'model-b', description: 'MS1M-ArcFace, batch renorm', accuracy: { lfw: 0.9962, cfp_ff: 0.9964, cfp_fp: 0.9329, agedb_30: 0.9547 } },
  'model-c': { name: 'model-c', description: 'MS1M-ArcFace, batch renorm, global batch 384', accuracy: { lfw: 0.9967, cfp_ff: 0.997, cfp_fp: 0.9403, agedb_30: 0.9652 } },
};

export function isReferenceName(s: string): s is ReferenceName {
  return (REFERENCE_NAMES as readonly string[]).includes(s);
}
