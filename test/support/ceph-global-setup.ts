import type { TestProject } from 'vitest/node';
import { cephAvailable, startCephRgw } from './ceph-rgw.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** KEY=VALUE file of the RGW shared by the s3-backend project (scripts/ceph-rgw.sh output). */
    cephRgwEnvFile: string;
  }
}

/**
 * One Ceph RGW for the whole `s3-backend` project: every test server in it stores objects there
 * through the proxy backend. Without the Ceph packages the project fails here, loudly: CI installs
 * them (`scripts/ceph-rgw.sh install`); locally, run that or `npx vitest --project fs`.
 */
export default async function setup(project: TestProject) {
  if (!cephAvailable()) throw new Error('The s3-backend test project needs Ceph: run scripts/ceph-rgw.sh install (or npx vitest --project fs).');
  const rgw = await startCephRgw();
  project.provide('cephRgwEnvFile', process.env.CEPH_RGW_ENV_FILE ?? `${rgw.dir}/env`);
  return async () => rgw.stop();
}
