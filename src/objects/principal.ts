import type { Actor } from '../events/events.ts';
import { UNRESTRICTED_SCOPE, type KeyScope } from '../keys/key-scope.ts';
import type { ResolvedKey } from '../keys/key-store.ts';

/**
 * Who asks the objects service for something, whichever door the request came through: the
 * account whose namespace the bucket names are resolved in, the actor recorded in domain events,
 * and, when authenticated by an access key, that key's scope (checked with `scopeAllows` on every
 * call). A dashboard session has no key scope: it may do anything within its own account.
 */
export interface Principal {
  accountId: string;
  actor: Actor;
  /** Present when authenticated by an access key (S3, the file API); undefined: unrestricted within the account. */
  scope?: KeyScope;
  /** The client's address as the server saw it (no proxy headers trusted). */
  clientAddress?: string;
}

/** An access key's principal (S3 gateway, `/api/v1/files`): the actor is the access key id. */
export function keyPrincipal(key: Pick<ResolvedKey, 'userId' | 'accessKeyId' | 'scope'>, clientAddress?: string): Principal {
  return { accountId: key.userId, actor: { kind: 'key', id: key.accessKeyId }, scope: key.scope, clientAddress };
}

/** A signed-in dashboard user acting on their own account: the actor is the user id. */
export function sessionPrincipal(userId: string, clientAddress?: string): Principal {
  return { accountId: userId, actor: { kind: 'session', id: userId }, clientAddress };
}

/** Account id of the anonymous principal: not a user id (those are UUIDs), so it owns no bucket. */
export const ANONYMOUS_ACCOUNT_ID = 'anonymous';
/** Reads only, whatever else goes wrong: an unsigned request can never pass a write's scope check. */
const ANONYMOUS_SCOPE: KeyScope = Object.freeze({ permission: 'read' });

/**
 * An unsigned S3 request (no credentials in any scheme): it may only read what a public ACL opens
 * (the objects service decides). The actor is the client address, so access logs and events can
 * tell anonymous readers apart.
 */
export function anonymousPrincipal(clientAddress?: string): Principal {
  return { accountId: ANONYMOUS_ACCOUNT_ID, actor: { kind: 'anonymous', id: clientAddress ?? 'unknown' }, scope: ANONYMOUS_SCOPE, clientAddress };
}

export const isAnonymous = (principal: Principal): boolean => principal.actor.kind === 'anonymous';

export const scopeOf = (principal: Principal): KeyScope => principal.scope ?? UNRESTRICTED_SCOPE;
