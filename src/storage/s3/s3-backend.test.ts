import { rgwProxyBackend } from '../../../test/support/rgw-backend.ts';
import { runStorageBackendContract } from '../storage-backend.contract.ts';

// Runs in the s3-backend vitest project, on the Ceph RGW its global setup started.
runStorageBackendContract('s3 proxy on Ceph RGW', () => rgwProxyBackend('cs-s3-backend-'), { cannotLeaveOutUploadedParts: true });
