/** Anything with session events: IscsiSession, from core's build or its sources. */
export interface EventSource {
  on(listener: () => void): () => void;
}

/** Resolves once `predicate` holds, checked now and after each session event (no polling; the test's bound applies). */
export function until(session: EventSource, predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (predicate()) return resolve();
    const off = session.on(() => {
      if (!predicate()) return;
      off();
      resolve();
    });
  });
}
