import { rgwProxyBackend } from '../../../test/support/rgw-backend.ts';
import { runStorageBackendContract } from '../storage-backend.contract.ts';

// Runs in the s3-backend vitest project, on the Ceph RGW its global setup started.
runStorageBackendContract('s3 proxy on Ceph RGW', () => rgwProxyBackend('cs-s3-backend-'), { cannotLeaveOutUploadedParts: true });
// The same with the catalog in PostgreSQL (DATABASE_URL): the shared catalog must not change a thing.
runStorageBackendContract('s3 proxy on Ceph RGW, catalog in PostgreSQL', () => rgwProxyBackend('cs-s3-backend-pg-', { catalog: 'postgres' }), {
  cannotLeaveOutUploadedParts: true,
});
