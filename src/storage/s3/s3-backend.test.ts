import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { parseEnvLines, rgwBackendConnection } from '../../../test/support/ceph-rgw.ts';
import { runStorageBackendContract } from '../storage-backend.contract.ts';
import { createS3Backend } from './s3-backend.ts';

// Runs in the s3-backend vitest project, on the Ceph RGW its global setup started.
runStorageBackendContract(
  's3 proxy on Ceph RGW',
  async () => {
    const rgw = parseEnvLines(await readFile(inject('cephRgwEnvFile'), 'utf8'));
    const stateDir = await mkdtemp(join(tmpdir(), 'cs-s3-backend-'));
    const backend = await createS3Backend({ ...rgwBackendConnection(rgw), stateDir });
    return {
      backend,
      async cleanup() {
        await backend.close();
        await rm(stateDir, { recursive: true, force: true });
      },
    };
  },
  { cannotLeaveOutUploadedParts: true },
);
