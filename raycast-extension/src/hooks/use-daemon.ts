// The views' one way to the daemon: open it on the preference's socket, load what the view shows, and load again on
// every notification (a session dropping updates the open command at once). The view gets plain model values.
import { useCallback, useEffect, useRef, useState } from 'react';
import { DaemonUnavailableError, openDaemon, type Daemon } from '../lib/daemon';
import type { DaemonProblem } from '../lib/model';
import { socketPath } from '../lib/preferences';
import { describeError } from '../lib/status';

/** What a view renders: loading, the daemon's problem (one clear screen), an error of the last load, or the data. */
export interface Loadable<T> {
  readonly isLoading: boolean;
  readonly data?: T;
  readonly problem?: DaemonProblem;
  readonly error?: string;
}

export interface DaemonData<T> extends Loadable<T> {
  /** The connected daemon, for actions; undefined while connecting or when it is unavailable. */
  readonly daemon?: Daemon;
  readonly reload: () => void;
}

/** Notifications arrive in bursts (stats every 2 s per session, a state change with its LUNs): one reload per burst. */
const RELOAD_DEBOUNCE_MS = 250;

export function useDaemonData<T>(
  load: (daemon: Daemon) => Promise<T>,
  options: { live?: boolean } = {},
): DaemonData<T> {
  const live = options.live ?? true;
  const [state, setState] = useState<Loadable<T> & { daemon?: Daemon }>({ isLoading: true });
  const loadRef = useRef(load);
  loadRef.current = load;
  const daemonRef = useRef<Daemon | undefined>(undefined);
  const generation = useRef(0);
  // Bumped by reload when there is no usable connection: the effect opens the socket again ("Try Again" after the
  // user started iscsid, or after it restarted), instead of reusing a connection that is gone.
  const [attempt, setAttempt] = useState(0);

  const refresh = useCallback(async () => {
    const daemon = daemonRef.current;
    if (!daemon) return;
    const mine = ++generation.current;
    setState((s) => ({ ...s, isLoading: true }));
    try {
      const data = await loadRef.current(daemon);
      if (mine === generation.current) setState({ isLoading: false, data, daemon });
    } catch (e) {
      if (mine !== generation.current) return;
      if (e instanceof DaemonUnavailableError) {
        // The connection is of no more use: drop it, so the next reload connects again.
        if (daemonRef.current === daemon) daemonRef.current = undefined;
        daemon.close();
        setState({ isLoading: false, problem: e.problem });
      } else setState((s) => ({ ...s, isLoading: false, error: describeError(e), daemon }));
    }
  }, []);

  const reload = useCallback(() => {
    if (daemonRef.current) return void refresh();
    setState((s) => ({ ...s, isLoading: true }));
    setAttempt((a) => a + 1);
  }, [refresh]);

  useEffect(() => {
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unsubscribe: (() => void) | undefined;
    openDaemon(socketPath()).then(
      (daemon) => {
        if (closed) return daemon.close();
        daemonRef.current = daemon;
        if (live) {
          unsubscribe = daemon.onChange(() => {
            clearTimeout(timer);
            timer = setTimeout(() => void refresh(), RELOAD_DEBOUNCE_MS);
          });
        }
        void refresh();
      },
      (e: unknown) => {
        if (closed) return;
        if (e instanceof DaemonUnavailableError) setState({ isLoading: false, problem: e.problem });
        else setState({ isLoading: false, error: describeError(e) });
      },
    );
    return () => {
      closed = true;
      clearTimeout(timer);
      unsubscribe?.();
      daemonRef.current?.close();
      daemonRef.current = undefined;
    };
  }, [live, refresh, attempt]);

  return { ...state, reload };
}
