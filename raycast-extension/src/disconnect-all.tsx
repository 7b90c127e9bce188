import { showHUD } from '@raycast/api';
import { runBulk } from './hooks/bulk';

/** "Disconnect All": logs out of every session, then says how it went. */
export default async function Command() {
  await showHUD(await runBulk('disconnect-all'));
}
