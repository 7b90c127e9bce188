// Unit tests of bench/parse.mjs, the pure half of `npm run bench`: iscsi-perf's output, bash's `times`, /proc stat,
// our `lun bench --json`, fio's JSON (the HBA path), and the ratio/goal maths. Not protocol code: each test names the format it relies on.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkGoals,
  checkHbaGoals,
  compareHba,
  compareSides,
  cpuPerGb,
  fioArgs,
  fmtRatio,
  parseFioJson,
  parseSides,
  SIDES,
  ticksDelta,
  littleLatencyUs,
  parseBashDuration,
  parseIscsiPerf,
  parseJsonErrorMessage,
  parseOursJson,
  parseProcStatTicks,
  ratio,
  renderTable,
  SHAPES,
  selectShapes,
  splitTimes,
  TIMES_MARKER,
  TIMES_WRAPPER,
} from '../../bench/parse.mjs';

// Captured from libiscsi-bin 1.19.0 (`iscsi-perf -m 4 -b 8 -t 2 -r`) against tgtd's null LUN.
const PERF_OK =
  'iscsi-perf version 0.1 - (c) 2014-2015 by Peter Lieven <pl@ĸamp.de>\n\nconnected to iscsi://127.0.0.1:33649/iqn.2026-11.x:cap/1\n' +
  'capacity is 2147483648 blocks or 1099511627776 byte (1048576 MB)\nperforming RANDOM READ with 4 parallel requests\n' +
  'FIXED transfer size of 8 blocks (4096 byte)\nwill run for 2 seconds.\n\n' +
  '\r00:00:01 - lba 1781745252, iops current 55334 (216 MB/s), iops average 55334 (216 MB/s), in_flight 4, busy 0        ' +
  '\riops average 55359 (216 MB/s)                                                        \n\nfinished.\n';

describe('parseIscsiPerf (utils/iscsi-perf.c progress(): the final "iops average N (M MB/s)" has nothing after it)', () => {
  it('takes the final average, not the once-a-second progress line', () => {
    expect(parseIscsiPerf(PERF_OK)).toEqual({ iops: 55359, reportedMiBps: 216, finished: true, aborted: false });
  });

  it('ignores progress lines: a run cut short before its end has no result', () => {
    const cut = PERF_OK.slice(0, PERF_OK.indexOf('\riops average 55359'));
    expect(parseIscsiPerf(cut)).toBeUndefined();
  });

  it('with -l (logging) every line ends in \\n instead of \\r, and the final one is still found', () => {
    expect(parseIscsiPerf(PERF_OK.replaceAll('\r', '\n'))?.iops).toBe(55359);
  });

  it('reports ABORTED! (an I/O error ends the run early) and a missing "finished."', () => {
    const aborted = PERF_OK.replace('\n\nfinished.\n', '\nABORTED!\n');
    expect(parseIscsiPerf(aborted)).toMatchObject({ finished: false, aborted: true });
  });

  it('a failed login prints only the banner: no result', () => {
    expect(parseIscsiPerf('iscsi-perf version 0.1 - (c) 2014-2015 by Peter Lieven <pl@ĸamp.de>\n\n')).toBeUndefined();
  });
});

describe("bash `times` (bash(1): the shell's user/system times, then its children's)", () => {
  it('parses XmY.YYYs, with either decimal mark', () => {
    expect(parseBashDuration('0m0.004s')).toBe(0.004);
    expect(parseBashDuration('2m3.500s')).toBe(123.5);
    expect(parseBashDuration('0m1,250s')).toBe(1.25);
    expect(parseBashDuration('1.5s')).toBeUndefined();
    expect(parseBashDuration('')).toBeUndefined();
  });

  it('takes the children line after the marker and gives back the child stderr without it', () => {
    const stderr = `warning: x\npartial line${'\n'}${TIMES_MARKER}\n0m0.010s 0m0.020s\n0m1.500s 0m0.250s\n`;
    expect(splitTimes(stderr)).toEqual({ stderr: 'warning: x\npartial line', cpu: { user: 1.5, sys: 0.25 } });
  });

  it('no marker (the child was killed, so bash never ran `times`): no CPU figure', () => {
    expect(splitTimes('Killed\n')).toEqual({ stderr: 'Killed\n', cpu: undefined });
    expect(splitTimes(`${'\n'}${TIMES_MARKER}\n0m0.010s 0m0.020s\n`).cpu).toBeUndefined();
  });

  it('the real wrapper measures a busy child and passes its exit status through', async () => {
    // A child that burns some CPU, then exits 3 with an unterminated stderr line (the marker must still be found).
    const busy = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; printf "no newline" >&2; exit 3';
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn('bash', ['-c', TIMES_WRAPPER, 'bash', 'bash', '-c', busy], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_NUMERIC: 'C' } });
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    expect(result.code).toBe(3);
    const split = splitTimes(result.stderr);
    expect(split.stderr).toBe('no newline');
    expect(split.cpu).toBeDefined();
    expect(split.cpu!.user + split.cpu!.sys).toBeGreaterThan(0.05);
  });
});

describe('/proc/<pid>/stat (proc(5): utime and stime are fields 14 and 15, after a comm that may hold ") ")', () => {
  it('adds utime and stime even when comm contains spaces and parentheses', () => {
    const rest = 'S 1 2 3 4 5 6 7 8 9 10 120 35 0 0 20 0 1 0 100';
    expect(parseProcStatTicks(`4242 (tgt d) x) ${rest}`)).toBe(155);
  });

  it("reads this process's own stat", () => {
    expect(parseProcStatTicks(readFileSync('/proc/self/stat', 'utf8'))).toBeGreaterThanOrEqual(0);
  });

  it('garbage gives undefined', () => {
    expect(parseProcStatTicks('nothing here')).toBeUndefined();
    expect(parseProcStatTicks('1 (x) S 1 2')).toBeUndefined();
  });
});

describe('lun bench --json', () => {
  const result = {
    rw: 'randread', bs: 4096, qd: 32, seconds: 5, ios: 200000, bytes: 819200000, iops: 40000, mibps: 156.25,
    latencyUs: { p50: 700, p99: 1500, max: 9000, mean: 790 }, errors: 0, verify: null,
  };

  it('parses the result object, also after stray lines', () => {
    expect(parseOursJson(JSON.stringify(result, null, 2))).toEqual(result);
    expect(parseOursJson(`(node:1) Warning: something\n${JSON.stringify(result)}\n`)).toEqual(result);
  });

  it('refuses what lacks the numbers the table needs', () => {
    expect(parseOursJson('')).toBeUndefined();
    expect(parseOursJson('{"iops": 1}')).toBeUndefined();
    expect(parseOursJson(JSON.stringify({ ...result, iops: 'many' }))).toBeUndefined();
  });

  it("takes oclif's --json error message", () => {
    expect(parseJsonErrorMessage('{"error":{"message":"login failed","code":"ISCSI_LOGIN_FAILED"}}')).toBe('login failed');
    expect(parseJsonErrorMessage('not json')).toBeUndefined();
  });
});

describe('ratio maths', () => {
  it("Little's law: mean latency = QD / IOPS", () => {
    expect(littleLatencyUs(1, 10_000)).toBe(100);
    expect(littleLatencyUs(32, 40_000)).toBe(800);
    expect(littleLatencyUs(8, 0)).toBeUndefined();
  });

  it('CPU seconds per 10^9 bytes', () => {
    expect(cpuPerGb(2, 4e9)).toBe(0.5);
    expect(cpuPerGb(1, 0)).toBeUndefined();
    expect(cpuPerGb(undefined, 1e9)).toBeUndefined();
  });

  it('a ratio needs both sides and a positive denominator', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeUndefined();
    expect(ratio(undefined, 2)).toBeUndefined();
    expect(ratio(Number.NaN, 2)).toBeUndefined();
  });

  it('the latency ratio exists only at QD1', () => {
    const ours = { iops: 9000, mibps: 35.16, latencyUs: 111.1, cpuPerGb: 9 };
    const theirs = { iops: 10000, mibps: 39.06, latencyUs: 100, cpuPerGb: 6 };
    const qd1 = compareSides({ qd: 1 }, ours, theirs);
    expect(qd1.iops).toBeCloseTo(0.9);
    expect(qd1.latency).toBeCloseTo(1.111);
    expect(qd1.cpuPerGb).toBeCloseTo(1.5);
    expect(compareSides({ qd: 32 }, ours, theirs).latency).toBeUndefined();
  });
});

describe('goals: ≥1.0× IOPS at 4K QD32 and MiB/s at 1M QD8, 4K QD1 latency ≤1.1×, CPU/GB ≤1.5×', () => {
  const shape = (name: string) => SHAPES.find((s) => s.name === name)!;

  it('the limits themselves pass, just past them fails', () => {
    const at = (name: string, ratios: object) => checkGoals(shape(name), ratios).map((g) => [g.id, g.pass]);
    expect(at('4k-randread-qd32', { iops: 1.0, cpuPerGb: 1.5 })).toEqual([['iops-4k-qd32', true], ['cpu-per-gb', true]]);
    expect(at('4k-randread-qd32', { iops: 0.999, cpuPerGb: 1.501 })).toEqual([['iops-4k-qd32', false], ['cpu-per-gb', false]]);
    expect(at('4k-randread-qd1', { latency: 1.1 })).toEqual([['latency-4k-qd1', true], ['cpu-per-gb', undefined]]);
    expect(at('4k-randread-qd1', { latency: 1.11 })[0]).toEqual(['latency-4k-qd1', false]);
    expect(at('1m-read-qd8', { mibps: 1.2 })).toEqual([['mibps-1m-qd8', true], ['cpu-per-gb', undefined]]);
    expect(at('128k-read-qd32', { iops: 0.5 })).toEqual([['cpu-per-gb', undefined]]);
  });

  it('writes have no peer and no goal', () => {
    expect(checkGoals(shape('4k-randwrite-qd32'), { iops: 0.1 })).toEqual([]);
  });

  it('marks ratios', () => {
    expect(fmtRatio(1.04, true)).toBe('1.04✓');
    expect(fmtRatio(0.871, false)).toBe('0.87✗');
    expect(fmtRatio(1.2, undefined)).toBe('1.20');
    expect(fmtRatio(undefined, undefined)).toBe('—');
  });
});

describe('shapes and table', () => {
  it('--shapes picks by substring; qd1 is not qd128', () => {
    expect(selectShapes(undefined)).toHaveLength(8);
    expect(selectShapes('qd1').map((s) => s.name)).toEqual(['4k-randread-qd1', '4k-randwrite-qd1']);
    expect(selectShapes('write').every((s) => !s.peer)).toBe(true);
    expect(selectShapes(' 1m-read-qd8 , 128k ').map((s) => s.name)).toEqual(['128k-read-qd32', '1m-read-qd8', '128k-write-qd32']);
    expect(selectShapes('nope')).toEqual([]);
  });

  it('iscsi-perf -b counts 512-byte blocks: every shape is a whole number of them', () => {
    for (const s of SHAPES) expect(Number.isInteger(s.bs / 512)).toBe(true);
  });

  it('aligns columns by characters, ✓ included', () => {
    const text = renderTable(['shape', 'LUN', 'IOPS×'], [['a', 'file', '1.04✓'], ['bbb', 'null', '0.5']]);
    expect(text.split('\n')).toEqual([
      'shape  LUN   IOPS×',
      '-----  ----  -----',
      'a      file  1.04✓',
      'bbb    null    0.5',
    ]);
  });
});

// Captured from fio 3.33 (`fio --ioengine=nbd … --rw=randread --bs=4096 --iodepth=32 --output-format=json`) through
// iscsi-hba-sim, trimmed to the fields the bench reads. libnbd's engine prints its line before the JSON.
const FIO_READ =
  'fio: connected to NBD server\n' +
  JSON.stringify({
    'fio version': 'fio-3.33',
    jobs: [{
      jobname: 'hba', error: 0,
      read: { io_bytes: 302919680, bw_bytes: 60499237, iops: 14770.32155, runtime: 5007, total_ios: 73955, clat_ns: { min: 137686, max: 72276452, mean: 2160300.301197, percentile: { '50.000000': 1433600, '99.000000': 11993088 } } },
      write: { io_bytes: 0, bw_bytes: 0, iops: 0.0, runtime: 0, total_ios: 0, clat_ns: { min: 0, max: 0, mean: 0.0 } },
      usr_cpu: 2.556932, sys_cpu: 7.051538,
    }],
  }, null, 2);

describe('fio --output-format=json (fio 3.x: jobs[0].read / .write, clat_ns percentiles keyed "50.000000")', () => {
  it('reads the direction the shape moves, after the lines fio prints before the JSON', () => {
    const r = parseFioJson(FIO_READ, 'randread');
    expect(r).toEqual({
      iops: 14770.32155, mibps: 60499237 / 2 ** 20, bytes: 302919680, ios: 73955, runtimeMs: 5007, error: 0,
      latencyUs: { p50: 1433.6, p99: 11993.088, mean: 2160.300301197, max: 72276.452 }, usrCpu: 2.556932, sysCpu: 7.051538,
    });
  });

  it('a write shape takes the write side', () => {
    const value = JSON.parse(FIO_READ.slice(FIO_READ.indexOf('{')));
    [value.jobs[0].read, value.jobs[0].write] = [value.jobs[0].write, value.jobs[0].read];
    expect(parseFioJson(JSON.stringify(value), 'randwrite')?.iops).toBe(14770.32155);
    expect(parseFioJson(JSON.stringify(value), 'read')?.iops).toBe(0);
  });

  it('keeps the job error (an I/O error ends fio with error 5, EIO) for the caller to flag', () => {
    expect(parseFioJson(FIO_READ.replace('"error": 0', '"error": 5'), 'read')?.error).toBe(5);
  });

  it('no JSON, a cut JSON, or a job without numbers: undefined', () => {
    expect(parseFioJson('fio: io_u error on file hba.0.0: Input/output error\n', 'read')).toBeUndefined();
    expect(parseFioJson(FIO_READ.slice(0, 200), 'read')).toBeUndefined();
    expect(parseFioJson('{"jobs":[{"read":{"iops":"fast"}}]}', 'read')).toBeUndefined();
    expect(parseFioJson('{"jobs":[]}', 'read')).toBeUndefined();
  });
});

describe('the HBA side', () => {
  it('--sides: the named sides in bench order; unknown or empty refused', () => {
    expect(parseSides(undefined)).toEqual([...SIDES]);
    expect(parseSides('hba, ours')).toEqual(['ours', 'hba']);
    expect(() => parseSides('hba,tcp')).toThrow(/unknown side tcp/);
    expect(() => parseSides(' , ')).toThrow(/at least one/);
  });

  it("fio's argv: the shape, the URI, time-based, no random map (a 1 TiB export), JSON out", () => {
    const args = fioArgs({ rw: 'randread', bs: 4096, qd: 32 }, 'nbd+unix:///?socket=/x.sock', 5);
    expect(args).toEqual(expect.arrayContaining(['--ioengine=nbd', '--uri=nbd+unix:///?socket=/x.sock', '--rw=randread', '--bs=4096', '--iodepth=32', '--time_based', '--runtime=5', '--norandommap', '--output-format=json']));
  });

  it('CPU seconds of iscsid + simulator: the sum of /proc tick deltas; a vanished process gives no figure', () => {
    expect(ticksDelta([100, 50], [250, 80], 100)).toBe(1.8);
    expect(ticksDelta([100, undefined], [250, 80], 100)).toBeUndefined();
    expect(ticksDelta([100], [90], 100)).toBeUndefined(); // a pid reused by another process
    expect(ticksDelta([], [], 100)).toBeUndefined();
  });

  it('issue 12: "at least 80% of the direct path\'s IOPS at 4K QD32 and of its MiB/s at 1M QD8"', () => {
    const ratios = compareHba({ iops: 40_000, mibps: 156.25, cpuPerGb: 6 }, { iops: 50_000, mibps: 195.3125, cpuPerGb: 4, cpuPerGbNet: 3 }, { iops: 80_000 });
    expect(ratios).toEqual({ iops: 0.8, mibps: 0.8, cpuPerGb: 1.5, cpuPerGbNet: 2, vsLibiscsi: 0.5 });
    const at = (name: string, r: object) => checkHbaGoals(SHAPES.find((s) => s.name === name)!, r).map((g) => [g.id, g.pass]);
    expect(at('4k-randread-qd32', ratios)).toEqual([['hba-iops-4k-qd32', true]]);
    expect(at('4k-randread-qd32', { iops: 0.799 })).toEqual([['hba-iops-4k-qd32', false]]);
    expect(at('1m-read-qd8', { mibps: 0.8 })).toEqual([['hba-mibps-1m-qd8', true]]);
    expect(at('1m-read-qd8', {})).toEqual([['hba-mibps-1m-qd8', undefined]]);
    expect(at('4k-randread-qd1', ratios)).toEqual([]);
  });
});
