import { applyDecorators, SetMetadata, Type } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';
import { Permission } from '../permissions';
import { ApiErrors } from './api-errors.decorator';

export const REQUIRED_PERMISSION = 'auth:permission';
export const SUBJECT_RULE = 'auth:subject-rule';

/** Reads, from the primary database, the people a resource concerns (a grant: its two people); undefined when it does not exist. */
export interface SubjectLoader {
  subjectsOnPrimary(id: string): Promise<readonly string[] | undefined>;
}

/**
 * Who a token bound to one person (AUTH_USER_ID_CLAIM) may reach through a route. Every route that
 * needs a token states one; a route without one refuses bound tokens (PermissionsGuard).
 * - `operator`: an operator's route; every bound token is refused.
 * - `named`: the request names its people in path, query or body `fields`. `every`: each field
 *   present names the bound person, and at least one is present (a list must be filtered to them).
 *   `any`: at least one field present names the bound person (a grant, a translation between two
 *   people: the bound person is one of them).
 * - `loaded`: the path parameter `param` names a `resource` whose people `by` reads from the
 *   primary; the bound person must be one of them.
 */
export type SubjectRule =
  | { kind: 'operator' }
  | { kind: 'named'; fields: readonly string[]; match: 'every' | 'any' }
  | { kind: 'loaded'; resource: string; param: string; by: Type<SubjectLoader> };

export const Subject = {
  operator: (): SubjectRule => ({ kind: 'operator' }),
  /** Every named field is the bound person; at least one is named. */
  named: (...fields: string[]): SubjectRule => ({ kind: 'named', fields, match: 'every' }),
  /** One of the named fields is the bound person. */
  oneOf: (...fields: string[]): SubjectRule => ({ kind: 'named', fields, match: 'any' }),
  loaded: (resource: string, param: string, by: Type<SubjectLoader>): SubjectRule => ({ kind: 'loaded', resource, param, by }),
};

/** The rule in words, for the OpenAPI document (one sentence per rule, used in AUTH002's meaning too). */
export function describeSubjectRule(rule: SubjectRule): string {
  switch (rule.kind) {
    case 'operator':
      return 'an operator route: a token bound to a person is refused';
    case 'named': {
      const fields = rule.fields.map((field) => `\`${field}\``).join(rule.match === 'every' ? ' and ' : ' or ');
      return rule.match === 'every'
        ? `a token bound to a person must name that person in ${fields} (required for it)`
        : `a token bound to a person must name that person in ${fields}`;
    }
    case 'loaded':
      return `a token bound to a person must be one of the people of the ${rule.resource} \`${rule.param}\` names`;
  }
}

/** The machine-readable rule in the document (`x-person-binding`): the authorization matrix test reads it. */
function documentedRule(rule: SubjectRule): Record<string, unknown> {
  if (rule.kind === 'loaded') return { kind: rule.kind, resource: rule.resource, param: rule.param };
  return { ...rule, fields: rule.kind === 'named' ? [...rule.fields] : undefined };
}

/**
 * The route needs `permission` (any one of them, for a list), and states which person a token bound
 * to one person may reach through it (`subject`). Every route that needs a token is also rate
 * limited per caller, checks the token against the revocation list, and is shed under load: its
 * document says so.
 */
export function RequirePermission(permission: Permission | Permission[], subject: SubjectRule) {
  const anyOf = Array.isArray(permission) ? permission : [permission];
  const named = anyOf.map((p) => `\`${p}\``).join(' or ');
  return applyDecorators(
    SetMetadata(REQUIRED_PERMISSION, anyOf),
    SetMetadata(SUBJECT_RULE, subject),
    ApiExtension('x-person-binding', documentedRule(subject)),
    ApiBearerAuth(),
    ApiErrors({
      AUTH001: 'missing, malformed, expired, revoked or untrusted token',
      AUTH002: `the token lacks ${named}, or breaks the person binding (${describeSubjectRule(subject)})`,
      RATE001: 'over RATE_LIMIT_PER_MINUTE for this caller; Retry-After says when to try again',
      SYS002:
        'a dependency (database, KMS, token issuer) is unavailable, or the service is refusing requests for load or until its shred-log replay at start-up is done (Retry-After)',
    }),
  );
}
