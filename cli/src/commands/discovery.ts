import { Flags } from '@oclif/core';
import {
  credentialsFromEnv,
  defaultInitiatorName,
  discoverTargets,
  formatPortal,
  loginAuthFrom,
  parsePortal,
} from '@iscsi-initiator/core';
import { BaseCommand } from '../base-command.js';
import { ExitCode } from '../exit-codes.js';
import { CREDENTIALS_HELP, directFlags } from '../target-options.js';

export interface DiscoveryResult {
  readonly portal: string;
  readonly targets: ReadonlyArray<{
    readonly targetName: string;
    readonly portals: ReadonlyArray<{ readonly address: string; readonly port: number; readonly portalGroupTag: number | null }>;
  }>;
}

export default class Discovery extends BaseCommand {
  static override summary = 'Discover the targets a portal offers (SendTargets)';
  static override description = `Opens a discovery session to the portal, asks SendTargets=All, prints one line per target portal in open-iscsi's format (PORTAL,TPGT IQN), and logs out. ${CREDENTIALS_HELP}

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> discovery -p 192.168.1.20',
    '<%= config.bin %> discovery -p nas.local:3260 --json',
    '<%= config.bin %> -m discovery -t st -p 192.168.1.20   # open-iscsi form',
    'ISCSI_CHAP_USERNAME=me ISCSI_CHAP_SECRET=… <%= config.bin %> discovery -p [fd00::20]:3260',
  ];
  static override flags = {
    portal: Flags.string({ char: 'p', description: 'portal to ask: HOST[:PORT] (IPv6 in brackets); port 3260 by default', required: true }),
    type: Flags.string({ char: 't', description: 'discovery type (open-iscsi): st or sendtargets', options: ['st', 'sendtargets'], default: 'st' }),
    ...directFlags,
  };

  async run(): Promise<DiscoveryResult> {
    const { flags } = await this.parse(Discovery);
    const portal = parsePortal(flags.portal);
    const env = credentialsFromEnv();
    const timeoutMs = flags['login-timeout'] * 1000;
    const targets = await discoverTargets({
      portal,
      initiatorName: flags['initiator-name'] ?? defaultInitiatorName(),
      auth: loginAuthFrom(env),
      connectTimeoutMs: timeoutMs,
      loginTimeoutMs: timeoutMs,
    });
    const result: DiscoveryResult = {
      portal: formatPortal(portal),
      targets: targets.map((t) => ({
        targetName: t.targetName,
        portals: t.portals.map((p) => ({ address: p.host, port: p.port, portalGroupTag: p.portalGroupTag ?? null })),
      })),
    };
    for (const target of targets) {
      for (const p of target.portals) this.log(`${formatPortal(p)},${p.portalGroupTag ?? 1} ${target.targetName}`);
    }
    if (targets.length === 0) {
      // open-iscsi exits with 21 (no records found) when a portal offers nothing.
      if (this.jsonEnabled()) this.logJson(result);
      else this.logToStderr(`iscsiadm: no targets found at ${formatPortal(portal)}`);
      this.exit(ExitCode.NoObjectsFound);
    }
    return result;
  }
}
