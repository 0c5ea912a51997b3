import type { BucketResolution, BucketsUsecases } from '../buckets/buckets.usecases.ts';
import type { DomainEvent, JournalHook } from '../events/events.ts';
import { createObjectsService, type ObjectsService } from '../objects/objects.service.ts';
import type { StorageBackend } from '../storage/storage-backend.ts';
import type { TrashRepository } from './trash.repository.ts';

/**
 * The account's name for its internal trash bucket. Not a valid S3 bucket name (a leading dot),
 * so no door can create one like it; and internal rows are never resolved by name from a door
 * (buckets.repository.ts), so only the services built here address it.
 */
export const TRASH_BUCKET_NAME = '.trash';

type ObjectsServiceDeps = Parameters<typeof createObjectsService>[0];

/**
 * A backend whose writes and deletes hand the objects service's events to `rewrite` before they
 * are journaled (in the same commit: the rewrite is pure). Everything else is the backend itself.
 */
function rewritingBackend(backend: StorageBackend, rewrite: (events: DomainEvent[]) => DomainEvent[]): StorageBackend {
  const wrap = <I extends { journal?: JournalHook }>(input: I): I => {
    const journal = input.journal;
    return journal ? { ...input, journal: (facts) => rewrite(journal(facts)) } : input;
  };
  const wrapped = Object.create(backend) as StorageBackend;
  return Object.assign(wrapped, {
    putObject: (input: Parameters<StorageBackend['putObject']>[0]) => backend.putObject(wrap(input)),
    copyObject: (input: Parameters<StorageBackend['copyObject']>[0]) => backend.copyObject(wrap(input)),
    deleteObject: (input: Parameters<StorageBackend['deleteObject']>[0]) => backend.deleteObject(wrap(input)),
    deleteObjects: (input: Parameters<StorageBackend['deleteObjects']>[0]) => backend.deleteObjects(wrap(input)),
  });
}

/** Moves in and out of the trash bucket are the server's bookkeeping, not changes the account made: they record nothing. */
const withoutTrashBucketEvents = (events: DomainEvent[]) => events.filter((event) => event.bucket !== TRASH_BUCKET_NAME);

/**
 * Objects services for the trash and the Time Machine, built from the same dependencies as the one
 * objects service (same backend, quotas, ACL store, event journal), so scope checks, quota
 * reservation and settlement, ACL handling and events happen exactly as for any door. They differ
 * only in that they resolve the account's internal trash bucket (TRASH_BUCKET_NAME) and in the
 * events they journal:
 * - `objects`: nothing for the trash bucket (a file moved there was reported by its
 *   `object.deleted` with `detail.trashed`); everything else unchanged.
 * - `restoring(detail)`: a restore; the write (or marker removal) that brings a file back is
 *   journaled as `object.restored` with `detail`.
 */
export function createInternalObjects(deps: ObjectsServiceDeps & { trashRepository: TrashRepository }) {
  const { trashRepository } = deps;
  const buckets: BucketsUsecases = {
    ...deps.buckets,
    async resolve(userId: string, name: string): Promise<BucketResolution> {
      if (name !== TRASH_BUCKET_NAME) return deps.buckets.resolve(userId, name);
      const bucket = await trashRepository.internalBucket(userId, TRASH_BUCKET_NAME);
      return bucket ? { kind: 'owned', bucket } : { kind: 'missing' };
    },
  };
  const serviceWith = (rewrite: (events: DomainEvent[]) => DomainEvent[]): ObjectsService =>
    createObjectsService({ ...deps, buckets, backend: rewritingBackend(deps.backend, rewrite) });

  return {
    objects: serviceWith(withoutTrashBucketEvents),
    restoring(detail: Record<string, unknown>): ObjectsService {
      return serviceWith((events) =>
        withoutTrashBucketEvents(events).map((event) => {
          const { deleteMarker: _marker, ...rest } = event.detail ?? {};
          return { ...event, type: 'object.restored', detail: { ...rest, ...detail } };
        }),
      );
    },
  };
}

export type InternalObjects = ReturnType<typeof createInternalObjects>;
