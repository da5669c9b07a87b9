/**
 * KMS key ARNs: `arn:<partition>:kms:<region>:<account>:key/<key id>`. A multi-region key has the
 * same key id (`mrk-…`) in every region it is replicated to, and the same key material: what one
 * replica sealed, any other opens. Real key ids are `mrk-` and 32 hex digits; emulators put
 * dashes in them, which is accepted too.
 */
const KEY_ARN = /^(arn:aws[\w-]*:kms:)([^:]+)(:\d{12}:key\/)(mrk-[0-9a-fA-F-]+)$/;

/** The multi-region key id (`mrk-…`) of this ARN, or undefined for any other key or name. */
export function multiRegionKeyId(keyId: string): string | undefined {
  return KEY_ARN.exec(keyId)?.[4];
}

/** True when both name the same multi-region key, whatever the regions. */
export function sameMultiRegionKey(a: string, b: string): boolean {
  const [first, second] = [KEY_ARN.exec(a), KEY_ARN.exec(b)];
  return !!first && !!second && first[4] === second[4] && first[3] === second[3] && first[1] === second[1];
}

/**
 * The ARN of the multi-region key `keyId` names, in `region`: its replica there (the same key id
 * and account). Undefined for a single-region key, an alias or a bare key id.
 */
export function multiRegionKeyIn(keyId: string, region: string): string | undefined {
  const parts = KEY_ARN.exec(keyId);
  return parts ? `${parts[1]}${region}${parts[3]}${parts[4]}` : undefined;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * A SQL LIKE pattern (backslash escapes) for the key ids that are this key: the id itself, and
 * for a multi-region key its ARN in any region. So a database restored in the failover region
 * (rows sealed under the primary's ARN) counts as under the current key there.
 */
export function sameKeyPattern(keyId: string): string {
  const parts = KEY_ARN.exec(keyId);
  if (!parts) return escapeLike(keyId);
  const [, prefix, , account, id] = parts;
  return `${escapeLike(prefix)}%${escapeLike(account)}${escapeLike(id)}`;
}
