import { defineConfig } from 'vitest/config';

/** Client suites that also run with STORAGE_BACKEND=s3 against a real Ceph RGW (project s3-backend). */
const BACKEND_INDEPENDENT_SUITES = [
  'test/e2e/sdk.e2e.test.ts',
  'test/e2e/awscli.e2e.test.ts',
  'test/e2e/boto3.e2e.test.ts',
  'test/e2e/rclone.e2e.test.ts',
  'test/e2e/s3cmd.e2e.test.ts',
  'test/e2e/stalled-uploads.e2e.test.ts',
  'test/e2e/abort-logging.e2e.test.ts',
  'test/e2e/request-integrity.e2e.test.ts',
  'test/e2e/quota-admission.e2e.test.ts',
  'test/e2e/events-seam.e2e.test.ts',
  'test/e2e/conditional-writes.e2e.test.ts',
  'test/e2e/s3-semantics.e2e.test.ts',
  'test/e2e/sigv2.e2e.test.ts',
  'test/e2e/acl.e2e.test.ts',
  'test/e2e/post-object.e2e.test.ts',
  'test/e2e/shares.e2e.test.ts',
  'test/e2e/shares-review.e2e.test.ts',
  'test/e2e/cors.e2e.test.ts',
  'test/e2e/time-machine.e2e.test.ts',
  'test/e2e/trash.e2e.test.ts',
  'test/e2e/versioning.e2e.test.ts',
  'test/e2e/versioning-review.e2e.test.ts',
];

/** The client suites that also run once with PostgreSQL metadata (project postgres, CS_TEST_DATABASE=postgres). */
const CLIENT_SUITES = ['test/e2e/sdk.e2e.test.ts', 'test/e2e/awscli.e2e.test.ts', 'test/e2e/boto3.e2e.test.ts', 'test/e2e/rclone.e2e.test.ts', 'test/e2e/s3cmd.e2e.test.ts'];

/** Suites that need several gateways on one PostgreSQL (and the s3-backend project's RGW): they run only in that project. */
const MULTI_GATEWAY_SUITES = ['test/e2e/multi-gateway.e2e.test.ts'];

/** Suites that need the s3-backend project's RGW and run only there. */
const RGW_ONLY_SUITES = ['test/e2e/s3-backend.e2e.test.ts', 'test/e2e/client-disconnect.e2e.test.ts', 'test/e2e/outage-json.e2e.test.ts', 'src/storage/s3/**/*.test.ts'];

export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'data/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Global setups live in the projects, not here: `extends: true` concatenates arrays, so a
    // root entry would run again in every project (the dist/ build ran four times).
    projects: [
      // The proxy backend's own suite needs the project's RGW; everything else runs on fs.
      {
        extends: true,
        test: {
          name: 'fs',
          include: ['**/*.test.ts'],
          exclude: [...RGW_ONLY_SUITES, ...MULTI_GATEWAY_SUITES],
          // PostgreSQL for the suites that run a repository or the catalog on both dialects.
          globalSetup: ['test/support/global-setup.ts', 'test/support/postgres-global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 's3-backend',
          include: [...BACKEND_INDEPENDENT_SUITES, ...RGW_ONLY_SUITES, ...MULTI_GATEWAY_SUITES],
          env: { CS_TEST_BACKEND: 's3' },
          // The dist/ build for the multi-gateway suite's server processes; the others run in-process.
          globalSetup: ['test/support/global-setup.ts', 'test/support/ceph-global-setup.ts', 'test/support/postgres-global-setup.ts'],
        },
      },
      // The client suites once more with every piece of metadata on PostgreSQL (fs backend).
      {
        extends: true,
        test: {
          name: 'postgres',
          include: CLIENT_SUITES,
          env: { CS_TEST_DATABASE: 'postgres' },
          globalSetup: ['test/support/postgres-global-setup.ts'],
        },
      },
    ],
  },
});
