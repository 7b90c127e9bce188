import type { IscsiSession } from '@iscsi-initiator/core';

/** Resolves once `predicate` holds, checked now and after each session event (no polling; the test's bound applies). */
export function until(session: IscsiSession, predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (predicate()) return resolve();
    const off = session.on(() => {
      if (!predicate()) return;
      off();
      resolve();
    });
  });
}
