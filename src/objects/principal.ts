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

export const scopeOf = (principal: Principal): KeyScope => principal.scope ?? UNRESTRICTED_SCOPE;
