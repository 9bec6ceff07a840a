import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWireError, type WireError } from '../../../src/protocol/errors.js';
import { coerceParams, matchUsage, parseUsage, resolveStart } from '../../../src/workflows/params.js';
import { loadWorkflows, type WorkflowSet } from '../../../src/workflows/registry.js';

const PROFILE = `
id: application_profiling
command: profile
usage: "<service> [for <duration>]"
params:
  service:  { type: string, required: true, description: Service to profile }
  duration: { type: duration, default: 2h }
  url:      { type: url, default: "http://127.0.0.1:8080/health" }
  samples:  { type: integer, default: 20, min: 1, max: 1000 }
  ratio:    { type: number }
  verbose:  { type: boolean, default: false }
  mode:     { type: enum, values: [cpu, memory, io], default: cpu }
  labels:   { type: object }
  hosts:    { type: list }
steps:
  - id: report
    notify: { text: "{{ params.service }}" }
`;

const DEPLOY = `
id: deploy_check
command: deploy
usage: "<target> to <env> [with <note...>]"
params:
  target: { type: string, required: true }
  env: { type: enum, values: [staging, production], required: true }
  note: { type: string }
steps:
  - id: report
    notify: { text: "{{ params.target }}" }
`;

let dir: string;
let set: WorkflowSet;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ops-params-'));
  mkdirSync(join(dir, 'user'));
  writeFileSync(join(dir, 'user', 'profile.yaml'), PROFILE);
  writeFileSync(join(dir, 'user', 'deploy.yaml'), DEPLOY);
  set = loadWorkflows({ shipped: join(dir, 'none'), user: join(dir, 'user') });
  expect(set.problems).toEqual([]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fails(words: string[]): WireError {
  try {
    resolveStart(set, words);
  } catch (e) {
    if (isWireError(e)) return e;
    throw e;
  }
  throw new Error(`expected ${words.join(' ')} to fail`);
}

describe('verb and usage words', () => {
  it('profile my-service for 2h', () => {
    const r = resolveStart(set, ['profile', 'my-service', 'for', '2h']);
    expect(r.workflow.workflow.id).toBe('application_profiling');
    expect(r.params).toMatchObject({ service: 'my-service', duration: '2h', url: 'http://127.0.0.1:8080/health', samples: 20, verbose: false, mode: 'cpu' });
    expect(r.durationsMs).toEqual({ duration: 7_200_000 });
  });

  it('optional groups may be left out; key=value mixes in', () => {
    expect(resolveStart(set, ['profile', 'svc']).params).toMatchObject({ service: 'svc', duration: '2h' });
    expect(resolveStart(set, ['profile', 'svc', 'samples=50', 'verbose=yes']).params).toMatchObject({ samples: 50, verbose: true });
    expect(resolveStart(set, ['application_profiling', 'service=x', 'duration=90 minutes']).durationsMs).toEqual({ duration: 5_400_000 });
  });

  it('literal words and a rest placeholder', () => {
    expect(resolveStart(set, ['deploy', 'web', 'to', 'staging', 'with', 'new', 'cache', 'layer']).params).toEqual({ target: 'web', env: 'staging', note: 'new cache layer' });
    expect(fails(['deploy', 'web', 'staging']).message).toMatch(/cannot read "web staging".*usage: deploy <target> to <env>/);
  });

  it('a param given twice is refused', () => {
    expect(fails(['profile', 'svc', 'service=other']).message).toMatch(/service is given twice/);
  });

  it('parseUsage rejects malformed usage', () => {
    expect(() => parseUsage('<a> [b')).toThrow(/without "\]"/);
    expect(() => parseUsage('<a b>')).toThrow();
    expect(matchUsage(parseUsage('[<a>] [x <b>]'), ['x', '1'])).toEqual({ b: '1' });
  });
});

describe('types', () => {
  const wf = (): Parameters<typeof coerceParams>[0] => set.workflows.get('application_profiling')!.workflow;
  const ok = (p: Record<string, unknown>): Record<string, unknown> => coerceParams(wf(), { service: 's', ...p });
  const bad = (p: Record<string, unknown>): string => {
    try {
      ok(p);
    } catch (e) {
      expect(isWireError(e) && e.code).toBe('invalid_params');
      return (e as Error).message;
    }
    throw new Error('expected a failure');
  };

  it('converts text from the CLI and accepts native JSON values', () => {
    expect(ok({ samples: '7', ratio: '0.5', verbose: 'off', mode: 'io', labels: '{"a":1}', hosts: 'a, b' })).toMatchObject({ samples: 7, ratio: 0.5, verbose: false, mode: 'io', labels: { a: 1 }, hosts: ['a', 'b'] });
    expect(ok({ samples: 7, ratio: 2, verbose: true, labels: { b: 2 }, hosts: ['x'], duration: 90 })).toMatchObject({ samples: 7, ratio: 2, verbose: true, labels: { b: 2 }, hosts: ['x'], duration: '90s' });
    expect(ok({ hosts: '["h1","h2"]' }).hosts).toEqual(['h1', 'h2']);
  });

  it('a wrong type names the param and the expected type', () => {
    expect(bad({ samples: 'many' })).toMatch(/^param samples expects a whole number \(type integer\); got "many"/);
    expect(bad({ samples: '2.5' })).toMatch(/param samples .*integer/);
    expect(bad({ samples: 0 })).toMatch(/samples must be at least 1/);
    expect(bad({ ratio: 'x' })).toMatch(/param ratio .*type number/);
    expect(bad({ verbose: 'maybe' })).toMatch(/param verbose .*type boolean/);
    expect(bad({ duration: 'soon' })).toMatch(/param duration expects a duration/);
    expect(bad({ url: 'not a url' })).toMatch(/param url expects a URL/);
    expect(bad({ mode: 'cpuu' })).toMatch(/param mode expects one of cpu, memory, io \(did you mean cpu\?\)/);
    expect(bad({ labels: '[1]' })).toMatch(/param labels expects a JSON object/);
    expect(bad({ labels: '{oops' })).toMatch(/param labels/);
    expect(bad({ hosts: '{"a":1}' })).toMatch(/param hosts/);
    expect(bad({ service: { a: 1 } })).toMatch(/param service expects a string/);
  });

  it('missing required params are named; defaults applied; unknown params rejected with a suggestion', () => {
    expect(fails(['profile']).message).toMatch(/needs param service \(Service to profile\); usage: profile <service>/);
    expect(fails(['deploy_check']).message).toMatch(/needs params target, env/);
    expect(bad({ sevice: 'x' })).toMatch(/unknown param sevice .*did you mean service\?/);
    expect(fails(['profile', 'svc', 'sampels=3']).message).toMatch(/unknown param sampels .*did you mean samples/);
  });
});

describe('unknown workflow', () => {
  it('suggests the closest ids and verbs', () => {
    const e = fails(['profil', 'x']);
    expect(e.code).toBe('not_found');
    expect(e.message).toMatch(/no workflow or command named profil; did you mean profile/);
    expect(fails(['deploy_chek']).message).toMatch(/did you mean deploy_check/);
    expect(fails(['zzzzzzzz']).message).toMatch(/opstream workflows/);
  });
});

describe('service defaults (services: in config.yaml)', () => {
  const services = {
    checkout: { url: 'http://10.0.0.5:8080', samples: 50, hosts: ['a', 'b'], workflows: { profile: { mode: 'memory' } } },
    typo: { smaples: 3 },
    wrongflow: { workflows: { application_profiling: { target: 'x' } } },
  };

  it('fills what the user did not give, per workflow first; typed words always win', () => {
    const r = resolveStart(set, ['profile', 'checkout', 'for', '30m'], services);
    expect(r.params).toMatchObject({ service: 'checkout', duration: '30m', url: 'http://10.0.0.5:8080', samples: 50, hosts: ['a', 'b'], mode: 'memory' });
    expect(resolveStart(set, ['profile', 'checkout', 'samples=7'], services).params.samples).toBe(7);
    // another service name: the workflow's own defaults
    expect(resolveStart(set, ['profile', 'billing'], services).params).toMatchObject({ url: 'http://127.0.0.1:8080/health', samples: 20 });
    // a workflow without a `service` param takes nothing from it
    expect(resolveStart(set, ['deploy', 'checkout', 'to', 'staging'], services).params).toEqual({ target: 'checkout', env: 'staging' });
  });

  it('a name no workflow takes is an error that names it', () => {
    expect(() => resolveStart(set, ['profile', 'typo'], services)).toThrow(/services\.typo\.smaples in config\.yaml is not a param of any workflow \(did you mean samples\?\)/);
    expect(() => resolveStart(set, ['profile', 'wrongflow'], services)).toThrow(/services\.wrongflow\.workflows\.application_profiling\.target in config\.yaml is not a param of workflow application_profiling/);
  });
});
