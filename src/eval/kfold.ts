// The folds of sklearn's KFold(n_splits, shuffle=False), which insightface's verification protocol
// uses: contiguous test ranges in order, the first n mod k of them one item longer; the training
// set of a fold is everything else, in order.

/** One fold: the held-out items are [start, end); every other item is in the training set. */
export interface Fold {
  start: number;
  end: number;
}

/**
 * The k folds of n items. Throws, as sklearn does, when k < 2 or k > n: a fold would be empty
 * and its accuracy undefined (insightface never gets a number there either).
 */
export function kfold(n: number, k = 10): Fold[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`kfold: the number of items must be a whole number ≥ 0, got ${n}`);
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`kfold: needs at least 2 folds, got ${k}`);
  if (k > n) {
    throw new RangeError(`${k}-fold cross-validation needs at least ${k} pairs, got ${n} (sklearn's KFold refuses this too)`);
  }
  const base = Math.floor(n / k);
  const longer = n % k;
  const folds: Fold[] = [];
  let start = 0;
  for (let f = 0; f < k; f++) {
    const end = start + base + (f < longer ? 1 : 0);
    folds.push({ start, end });
    start = end;
  }
  return folds;
}
