/**
 * Ids the service generates (grants, audit events) are UUIDs. Any other text names nothing: it is
 * answered with 404 before it reaches a uuid column, which would refuse it with an error.
 */
export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}
