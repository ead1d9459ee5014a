// Bounded concurrency with results in input order: several images rendered or decoded at once
// (sharp works on libuv's thread pool), written out in a fixed, reproducible order.

/** Maps with up to `k` calls in flight, yielding results in input order. */
export async function* ordered<T, R>(xs: readonly T[], k: number, f: (x: T) => Promise<R>): AsyncGenerator<R> {
  const pending: Promise<R>[] = [];
  let next = 0;
  const start = () => {
    const pr = f(xs[next++]!);
    pr.catch(() => undefined); // a later failure is reported when its turn comes (or not at all)
    pending.push(pr);
  };
  while (next < xs.length && pending.length < k) start();
  while (pending.length > 0) {
    const r = await pending.shift()!;
    if (next < xs.length) start();
    yield r;
  }
}
