/**
 * The one rule for which stored CHAP secret applies: the portal's own, else the one shared by every portal of the
 * target (a node secret stored without a portal; for discovery, the default discovery secret). The daemon's logins
 * and discovery, and the CLI's `node -o show`, all ask in this order.
 */
export function secretLookupOrder<R extends { readonly targetName: string; readonly portal?: string | undefined }>(ref: R): R[] {
  if (ref.portal === undefined) return [ref];
  const { portal: _portal, ...shared } = ref;
  return [ref, shared as unknown as R];
}

/** The first ref in lookup order for which `lookup` finds something, with what it found; undefined when none. */
export async function findInOrder<R extends { readonly targetName: string; readonly portal?: string | undefined }, T>(
  ref: R,
  lookup: (ref: R) => Promise<T | undefined>,
): Promise<{ ref: R; value: T } | undefined> {
  for (const r of secretLookupOrder(ref)) {
    const value = await lookup(r);
    if (value !== undefined) return { ref: r, value };
  }
  return undefined;
}

/** Node setting names that would hold a secret: never a setting, never in argv (docs/security.md). */
export function isSecretKey(key: string): boolean {
  return /password|secret/i.test(key);
}
