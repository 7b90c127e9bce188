import type { WatchEvent, WatchSessionInfo, WatchSessionState, WatchStats } from './model.js';

/** What the watch needs of a daemon connection; `RpcClient` from core is one. */
export interface WatchClient {
  call<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T>;
  onNotification(listener: (method: string, params: Record<string, unknown>) => void): () => void;
}

const STATES: readonly string[] = ['logging-in', 'logged-in', 'recovering', 'failed', 'logged-out'];

/**
 * Subscribes to the daemon's notifications, then loads the session list and a first stats sample of each (so the
 * first `session.stats` notification already gives a rate) and each node's configured queue depth. Every fact
 * becomes a `WatchEvent` for `dispatch`. Resolves, once loaded, with the function that stops listening.
 */
export async function startWatchFeed(client: WatchClient, dispatch: (event: WatchEvent) => void, now: () => number = Date.now): Promise<() => void> {
  const known = new Set<number>();
  let reloading = false;
  let again = false;
  const reload = async (): Promise<void> => {
    const sessions = await client.call<WatchSessionInfo[]>('sessions.list');
    const fresh = sessions.filter((s) => !known.has(s.sid));
    for (const s of sessions) known.add(s.sid);
    dispatch({ type: 'loaded', sessions, at: now() });
    await Promise.all(
      fresh.map(async (s) => {
        const stats = await client.call<WatchStats>('sessions.stats', { sid: s.sid }).catch(() => undefined);
        if (stats) dispatch({ type: 'stats', stats });
        const node = await client
          .call<{ settings?: Record<string, string> }>('nodes.get', { targetName: s.targetName, portal: s.portal })
          .catch(() => undefined);
        const depth = Number(node?.settings?.['node.session.queue_depth']);
        if (Number.isInteger(depth) && depth > 0) dispatch({ type: 'queueDepth', sid: s.sid, queueDepth: depth });
      }),
    );
  };
  const scheduleReload = (): void => {
    if (reloading) {
      again = true; // one more list after the one in flight: it may predate this change
      return;
    }
    reloading = true;
    reload()
      .catch((e: unknown) => dispatch({ type: 'log', text: `cannot list sessions: ${errorText(e)}`, at: now() }))
      .finally(() => {
        reloading = false;
        if (again) {
          again = false;
          scheduleReload();
        }
      });
  };
  const stop = client.onNotification((method, params) => {
    if (method === 'session.stats' && typeof params.sid === 'number') {
      dispatch({ type: 'stats', stats: params as unknown as WatchStats });
    } else if (method === 'session.stateChanged' && typeof params.sid === 'number' && typeof params.state === 'string' && STATES.includes(params.state)) {
      dispatch({ type: 'stateChanged', sid: params.sid, state: params.state as WatchSessionState, reason: String(params.reason ?? ''), at: now() });
      // A session we have not seen (logged in elsewhere, or by our own `l`) or one that went away: ask for the list.
      if (!known.has(params.sid) || params.state === 'logged-out') scheduleReload();
    } else if (method === 'session.lunsChanged' && typeof params.sid === 'number' && Array.isArray(params.luns)) {
      dispatch({ type: 'lunsChanged', sid: params.sid, luns: params.luns.length, at: now() });
    }
  });
  try {
    await client.call('events.subscribe');
    await reload();
  } catch (e) {
    stop();
    throw e;
  }
  return stop;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}
