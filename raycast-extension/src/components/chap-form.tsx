// CHAP credentials for one node. The secret goes from this form to the daemon's secret store (secrets.set) and nowhere
// else: not to Raycast's preferences, not to a log, not kept in state after submit.
import { Action, ActionPanel, Form } from '@raycast/api';
import { useRef, useState } from 'react';
import type { NodeRecord } from '../lib/model';

export interface ChapValues {
  readonly username: string;
  readonly secret: string;
}

/** RFC 7143 §12.1.3: CHAP_N is a text value; the secret must not be empty (most targets want 12–16 bytes). */
export function validateChap(values: ChapValues): { username?: string; secret?: string } {
  return {
    ...(values.username.trim() === '' ? { username: 'A user name is required' } : {}),
    ...(values.secret === '' ? { secret: 'A secret is required' } : {}),
  };
}

export function ChapForm({ node, onSubmit }: { node: NodeRecord; onSubmit: (values: ChapValues) => Promise<boolean> }) {
  const [errors, setErrors] = useState<{ username?: string; secret?: string }>({});
  const [busy, setBusy] = useState(false);
  // A second ⌘↵ while saving would save twice (and pop twice): isLoading does not stop Raycast's submit action.
  const saving = useRef(false);
  const submit = async (values: ChapValues) => {
    if (saving.current) return;
    const found = validateChap(values);
    setErrors(found);
    if (found.username || found.secret) return;
    saving.current = true;
    setBusy(true);
    try {
      await onSubmit({ username: values.username.trim(), secret: values.secret });
    } finally {
      saving.current = false;
      setBusy(false);
    }
  };
  return (
    <Form
      isLoading={busy}
      navigationTitle="CHAP Credentials"
      actions={
        <ActionPanel>
          <Action.SubmitForm title="Save Credentials" onSubmit={submit} />
        </ActionPanel>
      }
    >
      <Form.Description title="Target" text={`${node.targetName}\n${node.portal}`} />
      <Form.TextField
        id="username"
        title="User Name"
        placeholder="CHAP user name"
        defaultValue={node.settings['node.session.auth.username'] ?? ''}
        error={errors.username}
        onChange={() => setErrors((e) => ({ ...e, username: undefined }))}
      />
      <Form.PasswordField
        id="secret"
        title="Secret"
        placeholder="Stored by iscsid, never by Raycast"
        error={errors.secret}
        onChange={() => setErrors((e) => ({ ...e, secret: undefined }))}
      />
    </Form>
  );
}
