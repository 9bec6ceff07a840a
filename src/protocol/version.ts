import { readFileSync } from 'node:fs';

/** Bumped whenever a message shape changes incompatibly; CLI and daemon must agree exactly. */
export const PROTOCOL_VERSION = 1;

function readPackageVersion(): string {
  // dist/protocol/version.js and src/protocol/version.ts both sit two levels under the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The package version; tests may override it to exercise the mismatch path. */
export const PACKAGE_VERSION: string = process.env.OPSTREAM_TEST_PACKAGE_VERSION || readPackageVersion();
