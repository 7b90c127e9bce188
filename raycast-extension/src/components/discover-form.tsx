// Discover Targets: a portal (with optional discovery CHAP) in a form, then the targets it offers, each with a
// log-in action. The command (discover.tsx) talks to the daemon; these only show and collect.
import { Action, ActionPanel, Form, Icon, List } from '@raycast/api';
import { useRef, useState } from 'react';
import type { DiscoveredTarget } from '../lib/model';

export interface DiscoverValues {
  readonly portal: string;
  readonly useChap: boolean;
  readonly username: string;
  readonly secret: string;
}

/** A portal is host, host:port, or [IPv6]:port (RFC 7143 §13.7 TargetAddress); spaces are never part of one. */
export function validatePortal(portal: string): string | undefined {
  const p = portal.trim();
  if (p === '') return 'A portal is required, e.g. nas.local or 192.168.1.10:3260';
  if (/\s/.test(p)) return 'A portal has no spaces';
  const port = /^(?:\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(p)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return 'The port must be 1–65535';
  return undefined;
}

export function DiscoverForm({
  onSubmit,
  isLoading,
}: {
  onSubmit: (values: DiscoverValues) => Promise<void>;
  isLoading: boolean;
}) {
  const [useChap, setUseChap] = useState(false);
  const [portalError, setPortalError] = useState<string | undefined>();
  // A second ⌘↵ while asking would discover twice and push two lists: isLoading does not stop the submit action.
  const asking = useRef(false);
  const submit = async (values: DiscoverValues) => {
    if (asking.current) return;
    const error = validatePortal(values.portal);
    setPortalError(error);
    if (error) return;
    asking.current = true;
    try {
      await onSubmit({
        ...values,
        portal: values.portal.trim(),
        useChap,
        username: values.username ?? '',
        secret: values.secret ?? '',
      });
    } finally {
      asking.current = false;
    }
  };
  return (
    <Form
      isLoading={isLoading}
      actions={
        <ActionPanel>
          <Action.SubmitForm title="Discover" icon={Icon.MagnifyingGlass} onSubmit={submit} />
        </ActionPanel>
      }
    >
      <Form.TextField
        id="portal"
        title="Portal"
        placeholder="nas.local or 192.168.1.10:3260"
        error={portalError}
        onChange={() => setPortalError(undefined)}
      />
      <Form.Checkbox id="useChap" label="The portal asks for CHAP" value={useChap} onChange={setUseChap} />
      {useChap ? <Form.TextField id="username" title="User Name" placeholder="Discovery CHAP user name" /> : null}
      {useChap ? (
        <Form.PasswordField id="secret" title="Secret" placeholder="Stored by iscsid, never by Raycast" />
      ) : null}
    </Form>
  );
}

export function DiscoveredList({
  portal,
  targets,
  onLogin,
}: {
  portal: string;
  targets: readonly DiscoveredTarget[];
  onLogin: (targetName: string, portal: string) => void;
}) {
  return (
    <List navigationTitle={`Targets at ${portal}`}>
      {targets.length === 0 ? (
        <List.EmptyView
          icon={Icon.MagnifyingGlass}
          title="No targets"
          description={`${portal} offers no targets to this initiator.`}
        />
      ) : null}
      {targets.map((t) => (
        <List.Section key={t.targetName} title={t.targetName}>
          {t.portals.map((p) => {
            const address = p.address.includes(':') ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
            return (
              <List.Item
                key={address}
                title={address}
                subtitle={t.targetName}
                icon={Icon.HardDrive}
                accessories={[{ text: `TPGT ${p.portalGroupTag}` }]}
                actions={
                  <ActionPanel>
                    <Action title="Log in" icon={Icon.Plug} onAction={() => onLogin(t.targetName, address)} />
                    <Action.CopyToClipboard title="Copy IQN" content={t.targetName} />
                  </ActionPanel>
                }
              />
            );
          })}
        </List.Section>
      ))}
    </List>
  );
}
