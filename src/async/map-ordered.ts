/** Concurrency helpers shared by the teacher stages and scoring. */
/**
 * `fn` over `items` with at most `width` calls in flight, results in input order (so shards stay
 * deterministic). When `fn` throws or the consumer stops, calls already started finish first (their
 * answers are cached) and the input is closed.
 */
export async function* mapOrdered<T, R>(items: AsyncIterable<T>, width: number, fn: (item: T) => Promise<R>): AsyncGenerator<R, void, undefined> {
  const it = items[Symbol.asyncIterator]();
  const queue: Array<Promise<{ ok: true; value: R } | { ok: false; error: unknown }>> = [];
  let done = false;
  try {
    for (;;) {
      while (!done && queue.length < Math.max(1, width)) {
        const r = await it.next();
        if (r.done) done = true;
        else queue.push(fn(r.value).then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })));
      }
      const head = queue.shift();
      if (!head) return;
      const r = await head;
      if (!r.ok) throw r.error;
      yield r.value;
    }
  } finally {
    // The wrappers never reject: this only waits for requests in flight.
    await Promise.all(queue);
    if (!done) await it.return?.();
  }
}
