import type { RpcClient } from '@iscsi-initiator/core/rpc';
import type { WatchEvent } from './model.js';

/** What the watch needs of a daemon connection: `RpcClient` is one. */
export type WatchClient = Pick<RpcClient, 'call' | 'onNotification'>;

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
    const sessions = await client.call('sessions.list');
    const fresh = sessions.filter((s) => !known.has(s.sid));
    for (const s of sessions) known.add(s.sid);
    dispatch({ type: 'loaded', sessions, at: now() });
    await Promise.all(
      fresh.map(async (s) => {
        const stats = await client.call('sessions.stats', { sid: s.sid }).catch(() => undefined);
        if (stats) dispatch({ type: 'stats', stats });
        const node = await client.call('nodes.get', { targetName: s.targetName, portal: s.portal }).catch(() => undefined);
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
  const stop = client.onNotification((n) => {
    if (n.method === 'session.stats') {
      dispatch({ type: 'stats', stats: n.params });
    } else if (n.method === 'session.stateChanged') {
      dispatch({ type: 'stateChanged', sid: n.params.sid, state: n.params.state, reason: n.params.reason, at: now() });
      // A session we have not seen (logged in elsewhere, or by our own `l`) or one that went away: ask for the list.
      if (!known.has(n.params.sid) || n.params.state === 'logged-out') scheduleReload();
    } else if (n.method === 'session.lunsChanged') {
      dispatch({ type: 'lunsChanged', sid: n.params.sid, luns: n.params.luns.length, at: now() });
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
