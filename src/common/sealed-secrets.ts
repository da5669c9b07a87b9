/**
 * The sealing context's name of a blind-index key (`blind-index:<name>`): used where index keys
 * are sealed (indexes) and where every sealed key is re-sealed (the KMS key migration).
 */
export const blindIndexSecret = (indexName: string) => `blind-index:${indexName}`;
