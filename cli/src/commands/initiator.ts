import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { daemonFlags, withDaemon } from '../daemon.js';
import type { InitiatorInfo } from '../session/types.js';

export default class Initiator extends BaseCommand {
  static override summary = 'Show or set this initiator\'s iSCSI name and alias';
  static override description = `Prints the initiator name (and alias) the daemon logs in with, in the form of open-iscsi's /etc/iscsi/initiatorname.iscsi. --name sets the name (an iqn., eui. or naa. name, RFC 7143 §4.2.7); --alias sets the alias, --alias "" removes it. Changes apply to logins made afterwards.

${BaseCommand.exitCodesHelp}`;
  static override examples = [
    '<%= config.bin %> initiator',
    '<%= config.bin %> initiator --name iqn.2026-11.com.example:studio --alias studio',
    '<%= config.bin %> initiator --alias ""   # remove the alias',
    '<%= config.bin %> initiator --json',
  ];
  static override flags = {
    name: Flags.string({ char: 'n', description: 'set the initiator name (iSCSI name, RFC 7143 §4.2.7)' }),
    alias: Flags.string({ char: 'a', description: 'set the initiator alias ("" removes it)' }),
    ...daemonFlags,
  };

  async run(): Promise<InitiatorInfo> {
    const { flags } = await this.parse(Initiator);
    const info = await withDaemon(flags.socket, async (client) => {
      if (flags.name === undefined && flags.alias === undefined) return client.call('initiator.get');
      // initiator.set always takes the name, and an omitted alias removes it: keep whichever the user did not give.
      const current = flags.name === undefined || flags.alias === undefined ? await client.call('initiator.get') : undefined;
      const name = flags.name ?? current!.name;
      const alias = flags.alias ?? current?.alias;
      return client.call('initiator.set', { name, ...(alias === undefined || alias === '' ? {} : { alias }) });
    });
    this.log(`InitiatorName=${info.name}`);
    if (info.alias) this.log(`InitiatorAlias=${info.alias}`);
    return info;
  }
}
