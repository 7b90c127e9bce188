import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useCallback, useEffect, useReducer, useRef } from 'react';
import { errorText, startWatchFeed, type WatchClient } from './feed.js';
import {
  formatIops,
  formatMBps,
  initialWatchState,
  isLive,
  reduceWatch,
  selectedRow,
  shortenTarget,
  sparkline,
  type WatchEvent,
  type WatchRow,
  type WatchSessionState,
} from './model.js';

const STATE_COLOURS: Record<WatchSessionState, string> = {
  'logging-in': 'cyan',
  'logged-in': 'green',
  recovering: 'yellow',
  failed: 'red',
  'logged-out': 'gray',
};

/** Columns: width of each cell, so header and rows line up. */
const COLUMNS = { sid: 4, target: 24, portal: 22, state: 11, read: 8, write: 8, iops: 6, qd: 4, disk: 8 } as const;
const FIXED_WIDTH = Object.values(COLUMNS).reduce((a, b) => a + b, 0);
/** A sample every 2 s: 30 blocks are the whole minute; a narrow terminal shows the newest that fit. */
const SPARK_MAX = 30;
const LOG_LINES = 6;

export interface WatchViewProps {
  readonly client: WatchClient;
  /** Called with the load failure, if the daemon refuses to list or subscribe; the view then exits. */
  readonly onError?: (error: unknown) => void;
}

/** The live table of `iscsiadm session watch` (a TTY only): sessions, rates, a throughput sparkline, recovery log. */
export function WatchView({ client, onError }: WatchViewProps) {
  const [state, dispatch] = useReducer(reduceWatch, initialWatchState);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const sparkWidth = Math.max(4, Math.min(SPARK_MAX, ((stdout as { columns?: number }).columns || 80) - FIXED_WIDTH - 1));
  const mounted = useRef(true);
  const send = useCallback((event: WatchEvent) => {
    if (mounted.current) dispatch(event);
  }, []);

  useEffect(() => {
    mounted.current = true;
    let stop: (() => void) | undefined;
    startWatchFeed(client, send).then(
      (s) => {
        if (mounted.current) stop = s;
        else s();
      },
      (e: unknown) => {
        onError?.(e);
        exit(e instanceof Error ? e : new Error(String(e)));
      },
    );
    return () => {
      mounted.current = false;
      stop?.();
    };
  }, [client, send, onError, exit]);

  const act = (label: string, call: () => Promise<unknown>): void => {
    send({ type: 'log', text: `${label}…`, at: Date.now() });
    call().then(
      () => send({ type: 'log', text: `${label}: done`, at: Date.now() }),
      (e: unknown) => send({ type: 'log', text: `${label}: ${errorText(e)}`, at: Date.now() }),
    );
  };

  useInput((input, key) => {
    if (input === 'q') {
      exit();
      return;
    }
    if (key.upArrow) send({ type: 'select', delta: -1 });
    else if (key.downArrow) send({ type: 'select', delta: 1 });
    const row = selectedRow(state);
    if (!row) return;
    if (input === 'l' && !isLive(row.state)) act(`log in ${row.targetName}`, () => client.call('sessions.login', { targetName: row.targetName, portal: row.portal }));
    else if (input === 'u' && isLive(row.state)) act(`log out session ${row.sid}`, () => client.call('sessions.logout', { sid: row.sid }));
    else if (input === 'r' && isLive(row.state)) act(`rescan session ${row.sid}`, () => client.call('sessions.rescan', { sid: row.sid }));
  });

  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate">
        {cell('SID', COLUMNS.sid)}
        {cell('TARGET', COLUMNS.target)}
        {cell('PORTAL', COLUMNS.portal)}
        {cell('STATE', COLUMNS.state)}
        {cell('RD MB/s', COLUMNS.read)}
        {cell('WR MB/s', COLUMNS.write)}
        {cell('IOPS', COLUMNS.iops)}
        {cell('QD', COLUMNS.qd)}
        {cell('DISK', COLUMNS.disk)}
        {'THROUGHPUT'}
      </Text>
      {!state.loaded ? <Text dimColor>loading sessions…</Text> : null}
      {state.loaded && state.rows.length === 0 ? <Text dimColor>no sessions (log in with `iscsiadm node -T IQN --login`)</Text> : null}
      {state.rows.map((row, i) => (
        <SessionLine key={row.sid} row={row} selected={i === state.selected} sparkWidth={sparkWidth} />
      ))}
      <Box marginTop={1} flexDirection="column">
        <Text bold>Events</Text>
        {state.log.slice(-LOG_LINES).map((entry, i) => (
          <Text key={`${entry.at}-${i}`}>
            <Text dimColor>{new Date(entry.at).toLocaleTimeString()} </Text>
            {entry.text}
          </Text>
        ))}
      </Box>
      <Text dimColor>↑/↓ select · l log in · u log out · r rescan · q quit</Text>
    </Box>
  );
}

function SessionLine({ row, selected, sparkWidth }: { row: WatchRow; selected: boolean; sparkWidth: number }) {
  return (
    <Text inverse={selected} wrap="truncate">
      {cell(String(row.sid), COLUMNS.sid)}
      {cell(shortenTarget(row.targetName, COLUMNS.target - 2), COLUMNS.target)}
      {cell(row.portal, COLUMNS.portal)}
      <Text color={STATE_COLOURS[row.state]}>{cell(row.state, COLUMNS.state)}</Text>
      {cell(formatMBps(row.rates?.readBytesPerSec), COLUMNS.read)}
      {cell(formatMBps(row.rates?.writeBytesPerSec), COLUMNS.write)}
      {cell(formatIops(row.rates?.iops), COLUMNS.iops)}
      {cell(row.queueDepth === null ? '-' : String(row.queueDepth), COLUMNS.qd)}
      <DiskCell row={row} />
      <Text color="cyan">{sparkline(row.history.map((s) => s.bytesPerSec), sparkWidth)}</Text>
    </Text>
  );
}

/** The HBA disk's tasks in flight, then its I/O errors in red if any ("-": the session has no disk). */
function DiskCell({ row }: { row: WatchRow }) {
  const hba = row.last?.hba;
  if (!hba) return <Text>{cell('-', COLUMNS.disk)}</Text>;
  const errors = hba.failures > 0 ? ` ${hba.failures}!` : '';
  return <Text color={errors ? 'red' : undefined}>{cell(`${hba.inFlight}${errors}`, COLUMNS.disk)}</Text>;
}

function cell(text: string, width: number): string {
  return text.length >= width ? `${text.slice(0, width - 1)} ` : text.padEnd(width);
}
