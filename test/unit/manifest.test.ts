import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/home.js';

function commandIds(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return commandIds(p, base);
    if (!f.endsWith('.ts') || f.endsWith('.d.ts')) return [];
    const id = relative(base, p).replace(/\.ts$/, '').split('/');
    if (id[id.length - 1] === 'index') id.pop();
    return [id.join(':')];
  });
}

describe('oclif.manifest.json', () => {
  it('lists exactly the commands in src/commands, at the package version (rebuild when this fails)', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.version).toBe(pkg.version);
    expect(Object.keys(manifest.commands).sort()).toEqual(commandIds(join(ROOT, 'src', 'commands')).sort());
  });

  it('is not older than any command source file', () => {
    const mtime = statSync(join(ROOT, 'oclif.manifest.json')).mtimeMs;
    const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
    const stale = walk(join(ROOT, 'src', 'commands')).filter((f) => statSync(f).mtimeMs > mtime);
    expect(stale.map((f) => relative(ROOT, f))).toEqual([]);
  });
});
