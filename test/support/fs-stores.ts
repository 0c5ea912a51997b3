import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { createFsBackend, type FsBackend, type FsBackendOptions } from '../../src/storage/fs/fs-backend.ts';

/**
 * Fresh fs-backend stores for tests that open one directory with several backends (processes):
 * call it inside a `describe`; each `store()` makes a directory under `tmpPrefix` whose `start`
 * opens a backend over it and `close` closes one early. After each test every backend still open
 * is closed and every directory removed.
 */
export function fsStoresPerTest(tmpPrefix: string) {
  const roots: string[] = [];
  const open: FsBackend[] = [];

  afterEach(async () => {
    for (const backend of open.splice(0)) await backend.close();
    for (const root of roots.splice(0)) await fs.rm(root, { recursive: true, force: true });
  });

  return async function store() {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), tmpPrefix));
    roots.push(root);
    const dataDir = path.join(root, 'store');
    const start = async (options: Partial<FsBackendOptions> = {}) => {
      const backend = await createFsBackend({ dataDir, fsync: false, ...options });
      open.push(backend);
      return backend;
    };
    const close = async (backend: FsBackend) => {
      open.splice(open.indexOf(backend), 1);
      await backend.close();
    };
    return { dataDir, start, close };
  };
}
