// Pure helpers for bench/run.mjs: output parsers, the shapes, ratio maths and the table. No I/O here, so
// test/test/bench-parse.test.ts can check every one of them without a target.

/** The four read shapes compared with iscsi-perf, and our writes of the same shapes (no peer for those). */
export const SHAPES = Object.freeze([
  { name: '4k-randread-qd1', rw: 'randread', bs: 4096, qd: 1, peer: true },
  { name: '4k-randread-qd32', rw: 'randread', bs: 4096, qd: 32, peer: true },
  { name: '128k-read-qd32', rw: 'read', bs: 131072, qd: 32, peer: true },
  { name: '1m-read-qd8', rw: 'read', bs: 1048576, qd: 8, peer: true },
  { name: '4k-randwrite-qd1', rw: 'randwrite', bs: 4096, qd: 1, peer: false },
  { name: '4k-randwrite-qd32', rw: 'randwrite', bs: 4096, qd: 32, peer: false },
  { name: '128k-write-qd32', rw: 'write', bs: 131072, qd: 32, peer: false },
  { name: '1m-write-qd8', rw: 'write', bs: 1048576, qd: 8, peer: false },
]);

/**
 * The goals ours/theirs is held to. `metric` names a key of `Ratios`; `max` means the ratio must not exceed `limit`.
 * `shapes` undefined = every shape that has a peer.
 */
export const GOALS = Object.freeze([
  { id: 'iops-4k-qd32', metric: 'iops', shapes: ['4k-randread-qd32'], limit: 1.0, max: false, text: 'IOPS ≥1.0× at 4K QD32' },
  { id: 'mibps-1m-qd8', metric: 'mibps', shapes: ['1m-read-qd8'], limit: 1.0, max: false, text: 'MiB/s ≥1.0× at 1M QD8' },
  { id: 'latency-4k-qd1', metric: 'latency', shapes: ['4k-randread-qd1'], limit: 1.1, max: true, text: '4K QD1 latency ≤1.1×' },
  { id: 'cpu-per-gb', metric: 'cpuPerGb', shapes: undefined, limit: 1.5, max: true, text: 'CPU s/GB ≤1.5×' },
]);

/**
 * Shapes whose name contains any of the comma-separated terms ('' or undefined = all).
 * @param {string | undefined} filter
 */
export function selectShapes(filter) {
  const terms = (filter ?? '').split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
  if (terms.length === 0) return [...SHAPES];
  return SHAPES.filter((s) => terms.some((t) => s.name.includes(t)));
}

/**
 * iscsi-perf's result. While running it prints "\r…iops average N (M MB/s), in_flight …" once a second; when the
 * runtime is over it prints the final "iops average N (M MB/s)" with nothing after it but spaces, then "finished."
 * (or "ABORTED!" after an error). M is N·bytes-per-I/O >> 20, i.e. MiB/s rounded down.
 * @param {string} stdout
 * @returns {{ iops: number, reportedMiBps: number, finished: boolean, aborted: boolean } | undefined}
 */
export function parseIscsiPerf(stdout) {
  let last;
  for (const segment of stdout.split(/[\r\n]/)) {
    const m = /^\s*iops average (\d+) \((\d+) MB\/s\)\s*$/.exec(segment);
    if (m) last = { iops: Number(m[1]), reportedMiBps: Number(m[2]) };
  }
  if (last === undefined) return undefined;
  return { ...last, finished: /^finished\.$/m.test(stdout), aborted: /^ABORTED!$/m.test(stdout) };
}

/** Printed to stderr by the wrapper right before bash's `times`, so a child's unterminated last line cannot merge. */
export const TIMES_MARKER = '@@bench-times@@';

/**
 * The bash wrapper: `bash -c WRAPPER bash CMD ARGS…` runs CMD, then prints the marker and `times` to stderr and exits
 * with CMD's status. `times` prints the shell's own user/system time, then its children's (CMD's, once it was waited).
 */
export const TIMES_WRAPPER = `"$@"; rc=$?; printf '\\n%s\\n' '${TIMES_MARKER}' >&2; times >&2; exit $rc`;

/**
 * A bash `times` duration, "1m2.345s" (some locales print "1m2,345s").
 * @param {string} text
 * @returns {number | undefined} seconds
 */
export function parseBashDuration(text) {
  const m = /^(\d+)m(\d+(?:[.,]\d+)?)s$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * 60 + Number(m[2].replace(',', '.'));
}

/**
 * Splits the wrapper's stderr into the child's own stderr and the CPU times after the marker.
 * @param {string} stderr
 * @returns {{ stderr: string, cpu: { user: number, sys: number } | undefined }}
 */
export function splitTimes(stderr) {
  const at = stderr.lastIndexOf(`\n${TIMES_MARKER}\n`);
  if (at < 0) return { stderr, cpu: undefined };
  const own = stderr.slice(0, at);
  const lines = stderr.slice(at + TIMES_MARKER.length + 2).split('\n').filter((l) => l.trim() !== '');
  // Line 1: the shell itself; line 2: its waited-for children, i.e. the command we measure.
  const children = lines[1]?.trim().split(/\s+/);
  const user = children?.[0] === undefined ? undefined : parseBashDuration(children[0]);
  const sys = children?.[1] === undefined ? undefined : parseBashDuration(children[1]);
  return { stderr: own, cpu: user === undefined || sys === undefined ? undefined : { user, sys } };
}

/**
 * utime + stime in clock ticks from /proc/<pid>/stat (fields 14 and 15; the comm field may hold spaces and parens).
 * @param {string} text
 * @returns {number | undefined}
 */
export function parseProcStatTicks(text) {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After "pid (comm) " the fields are numbered from 3 (state).
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return Number.isFinite(utime) && Number.isFinite(stime) && fields.length >= 13 ? utime + stime : undefined;
}

/**
 * The JSON `lun bench --json` prints, checked enough to be used; anything else is undefined.
 * oclif may print warnings before it, so the last line that parses as an object wins if the whole text does not.
 * @param {string} stdout
 */
export function parseOursJson(stdout) {
  const candidates = [stdout.trim(), ...stdout.split('\n').reverse().map((l) => l.trim()).filter((l) => l.startsWith('{'))];
  for (const text of candidates) {
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const ok = ['iops', 'mibps', 'bytes', 'ios'].every((k) => typeof value[k] === 'number' && Number.isFinite(value[k]));
    if (ok) return value;
  }
  return undefined;
}

/**
 * oclif's `--json` error object ({"error":{"message",…}}) or undefined.
 * @param {string} stdout
 * @returns {string | undefined}
 */
export function parseJsonErrorMessage(stdout) {
  try {
    const value = JSON.parse(stdout.trim());
    const message = value?.error?.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Mean latency by Little's law: with `qd` I/Os always outstanding, each takes qd/IOPS seconds on average.
 * @param {number} qd @param {number} iops
 * @returns {number | undefined} microseconds
 */
export function littleLatencyUs(qd, iops) {
  return iops > 0 ? (1e6 * qd) / iops : undefined;
}

/**
 * CPU seconds per GB (10^9 bytes) moved.
 * @param {number | undefined} cpuSeconds @param {number | undefined} bytes
 */
export function cpuPerGb(cpuSeconds, bytes) {
  if (cpuSeconds === undefined || bytes === undefined || !(bytes > 0)) return undefined;
  return cpuSeconds / (bytes / 1e9);
}

/** @param {number | undefined} a @param {number | undefined} b */
export function ratio(a, b) {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return undefined;
  return a / b;
}

/**
 * @typedef {{ iops?: number, mibps?: number, latencyUs?: number, cpuPerGb?: number }} Side
 *   latencyUs: the Little's-law mean for both sides (iscsi-perf reports nothing else), so the comparison is like for like.
 * @typedef {{ iops?: number, mibps?: number, latency?: number, cpuPerGb?: number }} Ratios
 */

/**
 * ours/theirs for one shape. The latency ratio is only given at QD1, where latency is what the shape measures.
 * @param {{ qd: number }} shape @param {Side} ours @param {Side} theirs
 * @returns {Ratios}
 */
export function compareSides(shape, ours, theirs) {
  return {
    iops: ratio(ours.iops, theirs.iops),
    mibps: ratio(ours.mibps, theirs.mibps),
    latency: shape.qd === 1 ? ratio(ours.latencyUs, theirs.latencyUs) : undefined,
    cpuPerGb: ratio(ours.cpuPerGb, theirs.cpuPerGb),
  };
}

/**
 * The goals that apply to a shape, each with its verdict (pass undefined when the ratio is missing).
 * @param {{ name: string, peer: boolean }} shape @param {Ratios} ratios
 */
export function checkGoals(shape, ratios) {
  if (!shape.peer) return [];
  return GOALS.filter((g) => g.shapes === undefined || g.shapes.includes(shape.name)).map((g) => {
    const r = ratios[/** @type {keyof Ratios} */ (g.metric)];
    const pass = r === undefined ? undefined : g.max ? r <= g.limit : r >= g.limit;
    return { id: g.id, text: g.text, metric: g.metric, limit: g.limit, ratio: r, pass };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

/** @param {number | undefined} n @param {number} [digits] */
export function fmtNum(n, digits = 0) {
  if (n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * A ratio with its goal mark: "1.04✓", "0.87✗", "1.21" (no goal), "—" (missing).
 * @param {number | undefined} r @param {boolean | undefined} pass
 */
export function fmtRatio(r, pass) {
  if (r === undefined) return '—';
  return `${r.toFixed(2)}${pass === undefined ? '' : pass ? '✓' : '✗'}`;
}

/**
 * Left-aligns the first `leftColumns` columns, right-aligns the rest; widths by code points so ✓/µ line up.
 * @param {string[]} headers @param {string[][]} rows @param {number} [leftColumns]
 */
export function renderTable(headers, rows, leftColumns = 2) {
  const len = (/** @type {string} */ s) => [...s].length;
  const widths = headers.map((h, i) => Math.max(len(h), ...rows.map((r) => len(r[i] ?? ''))));
  const line = (/** @type {string[]} */ cells) =>
    cells
      .map((c, i) => {
        const pad = ' '.repeat(Math.max(0, (widths[i] ?? 0) - len(c)));
        return i < leftColumns ? c + pad : pad + c;
      })
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(headers.map((_, i) => r[i] ?? '')))].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The HBA path: fio over NBD through iscsi-hba-sim and iscsid --hba simulator, compared with `lun bench` direct.

/** The sides a run can measure: our direct `lun bench`, libiscsi's iscsi-perf, and fio through the HBA. */
export const SIDES = Object.freeze(['ours', 'libiscsi', 'hba']);

/**
 * Issue 12, "Performance": the HBA path reaches "at least 80% of the direct path's IOPS at 4K QD32 and of its MiB/s
 * at 1M QD8". `metric` names a key of the HBA/direct ratios.
 */
export const HBA_GOALS = Object.freeze([
  { id: 'hba-iops-4k-qd32', metric: 'iops', shapes: ['4k-randread-qd32'], limit: 0.8, text: 'HBA IOPS ≥0.8× direct at 4K QD32' },
  { id: 'hba-mibps-1m-qd8', metric: 'mibps', shapes: ['1m-read-qd8'], limit: 0.8, text: 'HBA MiB/s ≥0.8× direct at 1M QD8' },
]);

/**
 * The sides to run, from `--sides a,b` (undefined = all). Throws on a name that is not a side.
 * @param {string | undefined} text
 * @returns {string[]}
 */
export function parseSides(text) {
  if (text === undefined) return [...SIDES];
  const names = [...new Set(text.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  for (const n of names) if (!SIDES.includes(n)) throw new Error(`--sides: unknown side ${n} (${SIDES.join(', ')})`);
  if (names.length === 0) throw new Error(`--sides: name at least one of ${SIDES.join(', ')}`);
  return SIDES.filter((s) => names.includes(s));
}

/**
 * fio's argv for a shape against an NBD URI: time-based, the whole export, one job. Random offsets are --bs-aligned
 * like `lun bench`'s; no random map (a 1 TiB export would need a 32 MiB bitmap) and a fresh seed per run.
 * @param {{ rw: string, bs: number, qd: number }} shape @param {string} uri @param {number} seconds
 */
export function fioArgs(shape, uri, seconds) {
  return [
    '--name=hba', '--ioengine=nbd', `--uri=${uri}`, `--rw=${shape.rw}`, `--bs=${shape.bs}`, `--iodepth=${shape.qd}`,
    '--time_based', `--runtime=${seconds}`, '--norandommap', '--randrepeat=0', '--output-format=json',
  ];
}

/**
 * The one job of `fio --output-format=json` (fio 3.x: {"jobs":[{"error","read":{…},"write":{…}}]}), reduced to what
 * the table needs, for the direction `rw` moves. fio may print warnings before the JSON ("fio: …"), so parsing starts
 * at the first line that opens an object. Latencies are completion latencies (clat_ns), in µs.
 * @param {string} stdout @param {string} rw
 * @returns {{ iops: number, mibps: number, bytes: number, ios: number, runtimeMs: number, error: number,
 *   latencyUs: { p50?: number, p99?: number, mean?: number, max?: number }, usrCpu?: number, sysCpu?: number } | undefined}
 */
export function parseFioJson(stdout, rw) {
  const start = stdout.search(/^\{/m);
  if (start < 0) return undefined;
  let value;
  try {
    value = JSON.parse(stdout.slice(start));
  } catch {
    return undefined;
  }
  const job = Array.isArray(value?.jobs) ? value.jobs[0] : undefined;
  const side = job?.[rw.includes('write') ? 'write' : 'read'];
  if (side === null || typeof side !== 'object') return undefined;
  const num = (/** @type {unknown} */ v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const iops = num(side.iops);
  const bytes = num(side.io_bytes);
  const ios = num(side.total_ios);
  const bw = num(side.bw_bytes);
  if (iops === undefined || bytes === undefined || ios === undefined || bw === undefined) return undefined;
  const clat = side.clat_ns ?? {};
  const pct = clat.percentile ?? {};
  const us = (/** @type {unknown} */ ns) => (num(ns) === undefined ? undefined : /** @type {number} */ (ns) / 1000);
  return {
    iops,
    mibps: bw / 2 ** 20,
    bytes,
    ios,
    runtimeMs: num(side.runtime) ?? 0,
    error: num(job.error) ?? 0,
    latencyUs: { p50: us(pct['50.000000']), p99: us(pct['99.000000']), mean: us(clat.mean), max: us(clat.max) },
    usrCpu: num(job.usr_cpu),
    sysCpu: num(job.sys_cpu),
  };
}

/**
 * CPU seconds of several processes between two /proc samples (ticks per pid), or undefined if any is missing.
 * @param {Array<number | undefined>} before @param {Array<number | undefined>} after @param {number} clockTicks
 */
export function ticksDelta(before, after, clockTicks) {
  if (before.length !== after.length || before.length === 0) return undefined;
  let sum = 0;
  for (let i = 0; i < before.length; i++) {
    const a = before[i];
    const b = after[i];
    if (a === undefined || b === undefined || b < a) return undefined;
    sum += b - a;
  }
  return sum / clockTicks;
}

/**
 * HBA/direct for one shape: IOPS, MiB/s, and CPU per GB (the HBA's iscsid + simulator against direct's whole process,
 * and against direct without its start-up). `vsLibiscsi`: HBA IOPS over iscsi-perf's, where iscsi-perf ran.
 * @param {{ iops?: number, mibps?: number, cpuPerGb?: number }} hba
 * @param {{ iops?: number, mibps?: number, cpuPerGb?: number, cpuPerGbNet?: number }} direct
 * @param {{ iops?: number }} libiscsi
 */
export function compareHba(hba, direct, libiscsi) {
  return {
    iops: ratio(hba.iops, direct.iops),
    mibps: ratio(hba.mibps, direct.mibps),
    cpuPerGb: ratio(hba.cpuPerGb, direct.cpuPerGb),
    cpuPerGbNet: ratio(hba.cpuPerGb, direct.cpuPerGbNet),
    vsLibiscsi: ratio(hba.iops, libiscsi.iops),
  };
}

/**
 * The HBA goals that apply to a shape, each with its verdict (pass undefined when the ratio is missing).
 * @param {{ name: string }} shape @param {{ iops?: number, mibps?: number }} ratios
 */
export function checkHbaGoals(shape, ratios) {
  return HBA_GOALS.filter((g) => g.shapes.includes(shape.name)).map((g) => {
    const r = /** @type {Record<string, number | undefined>} */ (ratios)[g.metric];
    return { id: g.id, text: g.text, metric: g.metric, limit: g.limit, ratio: r, pass: r === undefined ? undefined : r >= g.limit };
  });
}
