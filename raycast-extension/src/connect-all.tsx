import { showHUD } from '@raycast/api';
import { runBulk } from './hooks/bulk';

/** "Connect All Automatic": logs in to every node whose startup is automatic, then says how it went. */
export default async function Command() {
  await showHUD(await runBulk('connect-all'));
}
