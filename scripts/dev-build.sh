#!/usr/bin/env bash
# Development build while several people edit at once: serialized with flock, prints type errors
# but still emits (tsc does by default), bundles oclif for fast starts, refreshes the manifest.
cd "$(dirname "$0")/.." || exit 1
exec flock /tmp/opstream-build.lock bash -c 'npx tsc -p tsconfig.json; code=$?; node scripts/bundle.mjs >/dev/null; npx oclif manifest >/dev/null 2>&1; exit $code'
