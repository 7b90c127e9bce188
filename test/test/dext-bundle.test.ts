// The DriverKit dext (driver/dext/) is compiled nowhere here (no macOS, no DriverKit SDK): these checks keep what can
// be checked on Linux honest. Issue 11, item 3: the personality needs CFBundleIdentifierKernel =
// com.apple.iokit.IOSCSIParallelFamily "or it is dropped silently", matching on IOResources, the entitlements
// com.apple.developer.driverkit, …driverkit.family.scsicontroller and …driverkit.userclient-access for the daemon;
// and the user client's calls are the ABI header's ("one definition … of the user-client calls").
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const dext = path.join(root, 'driver/dext');
const read = (file: string): string => readFileSync(path.join(dext, file), 'utf8');

type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

/**
 * A property-list XML reader for the subset Apple's plists use (dict, array, string, integer, true, false); plutil is
 * not on Linux. Comments are dropped first; anything else (an unknown tag, a key without a value) throws.
 */
function parsePlist(xml: string): PlistValue {
  const body = xml.replace(/<!--[\s\S]*?-->/g, '').replace(/<\?xml[^>]*\?>|<!DOCTYPE[^>]*>/g, '');
  const tokens = [...body.matchAll(/<(\/?)([a-z]+)(?:\s[^>]*?)?(\/?)>|([^<]+)/g)].filter((m) => m[4] === undefined || m[4].trim() !== '');
  let at = 0;
  const next = (): RegExpMatchArray => {
    const token = tokens[at++];
    if (token === undefined) throw new Error('plist: unexpected end');
    return token;
  };
  const text = (tag: string): string => {
    let value = '';
    let token = next();
    if (token[4] !== undefined) {
      value = token[4].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
      token = next();
    }
    if (token[1] !== '/' || token[2] !== tag) throw new Error(`plist: <${tag}> not closed`);
    return value;
  };
  const value = (): PlistValue => {
    const token = next();
    const tag = token[2];
    if (token[4] !== undefined || token[1] === '/') throw new Error(`plist: unexpected ${token[0]}`);
    if (tag === 'true' || tag === 'false') {
      if (token[3] !== '/') text(tag);
      return tag === 'true';
    }
    if (tag === 'string') return text('string');
    if (tag === 'integer') return Number(text('integer'));
    if (tag === 'array') {
      const items: PlistValue[] = [];
      while (tokens[at]?.[1] !== '/') items.push(value());
      next();
      return items;
    }
    if (tag === 'dict') {
      const dict: Record<string, PlistValue> = {};
      while (tokens[at]?.[1] !== '/') {
        const keyTag = next();
        if (keyTag[2] !== 'key') throw new Error(`plist: expected <key>, got ${keyTag[0]}`);
        dict[text('key')] = value();
      }
      next();
      return dict;
    }
    throw new Error(`plist: unknown tag <${tag}>`);
  };
  const open = next();
  if (open[2] !== 'plist') throw new Error('plist: no <plist> root');
  const result = value();
  if (next()[2] !== 'plist') throw new Error('plist: trailing content');
  return result;
}

function dict(value: PlistValue | undefined): Record<string, PlistValue> {
  expect(value).toBeTypeOf('object');
  expect(Array.isArray(value)).toBe(false);
  return value as Record<string, PlistValue>;
}

/** The selector names the ABI header defines (enum iscsi_hba_selector), without the ISCSI_HBA_SEL_COUNT bound. */
function abiSelectors(): string[] {
  const header = readFileSync(path.join(root, 'driver/include/iscsi_hba_abi.h'), 'utf8');
  const body = /enum iscsi_hba_selector\s*\{([\s\S]*?)\};/.exec(header)?.[1];
  if (body === undefined) throw new Error('no enum iscsi_hba_selector in the ABI header');
  const withoutComments = body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  return [...withoutComments.matchAll(/\b(ISCSI_HBA_SEL_[A-Z_]+)\s*=/g)].map((m) => m[1]!).filter((n) => n !== 'ISCSI_HBA_SEL_COUNT');
}

/** The body of `IMPL(Class, Method)` in a DriverKit .cpp, by brace matching. */
function implBody(source: string, cls: string, method: string): string {
  const start = source.indexOf(`IMPL(${cls}, ${method})`);
  if (start < 0) throw new Error(`no IMPL(${cls}, ${method})`);
  const open = source.indexOf('{', start);
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    if (source[i] === '{') depth++;
    else if (source[i] === '}' && --depth === 0) return source.slice(open, i + 1);
  }
  throw new Error(`unbalanced IMPL(${cls}, ${method})`);
}

describe('the plist reader itself', () => {
  it('reads nested dicts, arrays and booleans, and refuses a key without a value', () => {
    expect(parsePlist('<plist><dict><key>a</key><array><string>x&amp;y</string><true/></array></dict></plist>')).toEqual({ a: ['x&y', true] });
    expect(() => parsePlist('<plist><dict><key>a</key></dict></plist>')).toThrow(/plist/);
  });
});

describe('driver/dext/Info.plist: the personality (issue 11, item 3)', () => {
  const plist = dict(parsePlist(read('Info.plist')));
  const personalities = dict(plist['IOKitPersonalities']);
  const names = Object.keys(personalities);

  it('is a DEXT bundle with the project bundle id and a CFBundleVersion to bump', () => {
    expect(plist['CFBundlePackageType']).toBe('DEXT');
    expect(plist['CFBundleIdentifier']).toBe('io.github.iscsi-initiator.driver');
    expect(plist['CFBundleVersion']).toMatch(/^\d+$/);
    expect(read('Info.plist')).toMatch(/BUMP CFBundleVersion/);
  });

  it('has one personality: the SCSI Parallel family (CFBundleIdentifierKernel), else it is dropped silently', () => {
    expect(names).toHaveLength(1);
    const p = dict(personalities[names[0]!]);
    expect(p['CFBundleIdentifierKernel']).toBe('com.apple.iokit.IOSCSIParallelFamily');
    expect(p['IOClass']).toBe('IOUserSCSIParallelInterfaceController');
    expect(p['IOUserClass']).toBe('IscsiHbaController');
    expect(p['CFBundleIdentifier']).toBe(plist['CFBundleIdentifier']);
    expect(p['IOUserServerName']).toBe(plist['CFBundleIdentifier']);
  });

  it('matches on the resources nub once IOKit is up (no hardware behind this HBA)', () => {
    const p = dict(personalities[names[0]!]);
    expect(p['IOProviderClass']).toBe('IOUserResources');
    expect(p['IOResourceMatch']).toBe('IOKit');
  });

  it('names the user client NewUserClient creates, and both classes exist in the .iig files', () => {
    const p = dict(personalities[names[0]!]);
    const uc = dict(p['UserClientProperties']);
    expect(uc['IOClass']).toBe('IOUserUserClient');
    expect(uc['IOUserClass']).toBe('IscsiHbaUserClient');
    expect(read('IscsiHbaController.iig')).toMatch(/class IscsiHbaController\s*:\s*public IOUserSCSIParallelInterfaceController/);
    expect(read('IscsiHbaUserClient.iig')).toMatch(/class IscsiHbaUserClient\s*:\s*public IOUserClient/);
    expect(read('IscsiHbaController.cpp')).toMatch(/Create\(this, "UserClientProperties"/);
  });

  it('never claims removable media (a removable disk has its flushes dropped)', () => {
    for (const file of ['Info.plist', 'IscsiHbaController.cpp', 'DextPlatform.cpp']) expect(read(file)).not.toMatch(/Removable/i);
  });
});

describe('driver/dext entitlements (issue 11, item 3)', () => {
  it('the dext: driverkit, the SCSI controller family, the sandbox, and not allow-any-userclient-access', () => {
    const e = dict(parsePlist(read('IscsiHbaDriver.entitlements')));
    expect(e['com.apple.developer.driverkit']).toBe(true);
    expect(e['com.apple.developer.driverkit.family.scsicontroller']).toBe(true);
    // Apple's DriverKit sample (NullDriver.entitlements) and Karabiner's shipping dext both run sandboxed.
    expect(e['com.apple.security.app-sandbox']).toBe(true);
    expect(e).not.toHaveProperty('com.apple.developer.driverkit.allow-any-userclient-access');
  });

  it('the daemon: userclient-access naming the dext bundle id', () => {
    const e = dict(parsePlist(read('iscsid.entitlements')));
    const bundleId = dict(parsePlist(read('Info.plist')))['CFBundleIdentifier'];
    expect(e['com.apple.developer.driverkit.userclient-access']).toEqual([bundleId]);
  });

  it('the host app: system-extension.install, and the project signs each target with its file', () => {
    expect(dict(parsePlist(readFileSync(path.join(root, 'installer/macos/HostApp/HostApp.entitlements'), 'utf8')))['com.apple.developer.system-extension.install']).toBe(true);
    const project = read('project.yml');
    expect(project).toMatch(/type: driver-extension/);
    expect(project).toMatch(/CODE_SIGN_ENTITLEMENTS: IscsiHbaDriver\.entitlements/);
    expect(project).toMatch(/INFOPLIST_FILE: Info\.plist/);
    expect(project).toMatch(/PRODUCT_BUNDLE_IDENTIFIER: io\.github\.iscsi-initiator\.driver/);
  });
});

describe('the user client dispatches exactly the ABI header\'s calls', () => {
  const source = read('IscsiHbaUserClient.cpp');
  const dispatched = [...implBody(source, 'IscsiHbaUserClient', 'ExternalMethod').matchAll(/case\s+(ISCSI_HBA_SEL_[A-Z_]+)\s*:/g)].map((m) => m[1]!);
  const selectors = abiSelectors();

  it('reads the selectors from the header', () => {
    expect(selectors).toContain('ISCSI_HBA_SEL_HANDSHAKE');
    expect(selectors.length).toBeGreaterThanOrEqual(7);
  });

  it('every selector it dispatches exists in iscsi_hba_abi.h, and every one the header defines is dispatched', () => {
    expect(dispatched.length).toBeGreaterThan(0);
    expect(dispatched.filter((s) => !selectors.includes(s))).toEqual([]);
    expect(selectors.filter((s) => !dispatched.includes(s))).toEqual([]);
    expect(new Set(dispatched).size).toBe(dispatched.length);
  });

  it('reads large struct inputs from the memory descriptor too, and answers notices with unpacked scalars', () => {
    expect(source).toMatch(/structureInputDescriptor/);
    expect(source).toMatch(/AsyncCompletion\(action, kIOReturnSuccess, data, 2\)/);
  });
});

describe('the controller honours the facts of issue 11, item 3 (text checks: the code is not compiled here)', () => {
  const iig = read('IscsiHbaController.iig');
  const cpp = read('IscsiHbaController.cpp');

  it('overrides every pure virtual the public attempts found, the bundled pair included', () => {
    for (const method of [
      'UserInitializeController', 'UserStartController', 'UserProcessParallelTask', 'UserDoesHBAPerformAutoSense',
      'UserDoesHBASupportSCSIParallelFeature', 'UserMapHBAData', 'UserInitializeTargetForID',
      'UserReportInitiatorIdentifier', 'UserReportHighestSupportedDeviceID', 'UserReportMaximumTaskCount',
      'UserReportHBAHighestLogicalUnitNumber', 'UserDoesHBAPerformDeviceManagement', 'UserDoesHBASupportMultiPathing',
      'UserGetDMASpecification', 'UserMapBundledParallelTaskCommandAndResponseBuffers', 'UserProcessBundledParallelTasks',
      'UserAbortTaskRequest', 'UserAbortTaskSetRequest', 'UserClearACARequest', 'UserClearTaskSetRequest',
      'UserLogicalUnitResetRequest', 'UserTargetResetRequest', 'NewUserClient',
    ]) {
      expect(iig, method).toMatch(new RegExp(`\\b${method}\\([^;]*\\)\\s*override;`));
      expect(cpp, method).toContain(`IMPL(IscsiHbaController, ${method})`);
    }
    expect(implBody(cpp, 'IscsiHbaController', 'UserMapBundledParallelTaskCommandAndResponseBuffers')).toMatch(/return kIOReturnUnsupported/);
  });

  it('creates the queues QUEUENAME names (and AuxiliaryQueue, InterruptQueue) before Start(SUPERDISPATCH)', () => {
    const start = implBody(cpp, 'IscsiHbaController', 'Start');
    const superStart = start.indexOf('Start(provider, SUPERDISPATCH)');
    expect(superStart).toBeGreaterThan(0);
    const named = [...iig.matchAll(/QUEUENAME\((\w+)\)/g)].map((m) => m[1]!);
    for (const queue of new Set([...named, 'AuxiliaryQueue', 'InterruptQueue'])) {
      const made = start.indexOf(`MakeQueue(this, "${queue}", true`);
      expect(made, queue).toBeGreaterThan(0);
      expect(made, queue).toBeLessThan(superStart);
    }
  });

  it('takes the data with UserGetDataBuffer inside UserProcessParallelTask, and never touches fBufferIOVMAddr', () => {
    expect(implBody(cpp, 'IscsiHbaController', 'UserProcessParallelTask')).toMatch(/UserGetDataBuffer\(/);
    expect(cpp.replace(/\/\/.*$/gm, '')).not.toMatch(/fBufferIOVMAddr/);
  });

  it('fills the response with its version, in the one place responses are built', () => {
    const platform = read('DextPlatform.cpp');
    expect(platform).toMatch(/response\.version = kScsiUserParallelTaskResponseCurrentVersion1;/);
    for (const field of ['fTargetID', 'fControllerTaskIdentifier', 'fServiceResponse', 'fCompletionStatus', 'fBytesTransferred', 'fSenseLength']) {
      expect(platform, field).toMatch(new RegExp(`response\\.${field} =`));
    }
    expect(`${cpp}\n${read('IscsiHbaUserClient.cpp')}`).not.toMatch(/SCSIUserParallelResponse\s+\w+\s*[;={]/);
  });

  it('calls UserCreateTargetForID only from a block on TargetQueue', () => {
    const calls = [...cpp.matchAll(/UserCreateTargetForID\(/g)].map((m) => m.index);
    expect(calls.length).toBeGreaterThan(0);
    for (const at of calls) {
      const before = cpp.slice(0, at);
      expect(before.lastIndexOf('target_queue->DispatchAsync(^{')).toBeGreaterThan(before.lastIndexOf('\n}\n'));
    }
  });

  it('advertises several segments and the maximum byte counts through SetProperties', () => {
    expect(cpp).toMatch(/constexpr uint32_t kSegments = (\d+);/);
    expect(Number(/constexpr uint32_t kSegments = (\d+);/.exec(cpp)?.[1])).toBeGreaterThan(1);
    const start = implBody(cpp, 'IscsiHbaController', 'Start');
    expect(start).toMatch(/kIOMaximumByteCountReadKey/);
    expect(start).toMatch(/kIOMaximumByteCountWriteKey/);
    expect(start).toMatch(/SetProperties\(properties\)/);
  });

  it('tells the core when the daemon goes away, and runs a watchdog that ticks the core', () => {
    expect(implBody(read('IscsiHbaUserClient.cpp'), 'IscsiHbaUserClient', 'Stop')).toMatch(/DaemonDetached\(this\)/);
    expect(cpp).toMatch(/ivars->core->daemon_detached\(\)/);
    expect(implBody(cpp, 'IscsiHbaController', 'WatchdogFired')).toMatch(/ivars->core->tick\(now\)/);
  });
});

describe('DextPlatform (the core\'s HbaPlatform on DriverKit) compiles against the core\'s API', () => {
  // hba_core.h: "the dext (driver/dext) and the simulator (driver/sim) are thin adapters that implement HbaPlatform".
  // DriverKit's few names come from driver/dext/linux-check (stand-ins, NOT the SDK): this catches the glue drifting
  // from the core (every HbaPlatform virtual is `override`), not a mismatch with Apple's headers.
  const compiler = ['c++', 'clang++', 'g++'].find((cxx) => spawnSync(cxx, ['--version'], { timeout: 10_000 }).status === 0);

  it.skipIf(compiler === undefined)('g++/clang++ -fsyntax-only -Werror accepts driver/dext/DextPlatform.cpp', () => {
    const check = path.join(dext, 'linux-check');
    const result = spawnSync(compiler!, [
      '-std=c++20', '-fsyntax-only', '-Wall', '-Wextra', '-Werror', '-Wshadow', '-Wconversion', '-Wsign-conversion',
      `-I${check}`, '-iquote', check, path.join(dext, 'DextPlatform.cpp'),
    ], { encoding: 'utf8', timeout: 60_000 });
    expect(result.error).toBeUndefined();
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
