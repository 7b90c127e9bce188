// The addon's host events (issue 12 item 4: "thin, compiled on macOS only"): off macOS the build carries
// host-events-none.cc, whose watchHost says ENOSYS rather than pretending to watch. Needs the built addon.
import { describe, expect, it } from 'vitest';
import { available, watchHost } from '@iscsi-initiator/native';

describe.runIf(process.platform !== 'darwin')('watchHost off macOS', () => {
  it('the addon is built, and watchHost throws ENOSYS naming what exists only on macOS', () => {
    expect(available).toBe(true);
    let error: (Error & { code?: string }) | undefined;
    try {
      watchHost(() => {});
    } catch (e) {
      error = e as Error & { code?: string };
    }
    expect(error?.code).toBe('ENOSYS');
    expect(error?.message).toMatch(/only on macOS/);
  });

  it('a listener that is not a function is refused before the addon is asked', () => {
    expect(() => watchHost(undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
