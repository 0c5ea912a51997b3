import packageJson from '../package.json' with { type: 'json' };

/**
 * The release version, read from package.json so there is one place to bump it. esbuild inlines
 * the JSON into dist/ at build time (the bundle reads no file at run time); tsx and vitest read it
 * from the source tree.
 */
export const VERSION: string = packageJson.version;
