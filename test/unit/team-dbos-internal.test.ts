import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DBOSExecutor } from '@dbos-inc/dbos-sdk/internal/dbos-executor';
import { migrateSystemDatabase, SystemDatabase } from '@dbos-inc/dbos-sdk/internal/system_database';
import { GlobalLogger } from '@dbos-inc/dbos-sdk/internal/telemetry/logs';
import { INTERNAL_QUEUE_NAME, globalParams } from '@dbos-inc/dbos-sdk/internal/utils';
import { wfQueueRunner } from '@dbos-inc/dbos-sdk/internal/wfqueue';

/**
 * src/daemon/team/dbos.ts leans on DBOS internals that are not public API (recovery of another
 * executor's workflows and an immediate claim of them). This fails, before any team test, when an
 * upgrade moves or changes them: re-check dbos.ts against the new code before bumping the pin.
 */
describe('DBOS internals the team runtime relies on (pinned @dbos-inc/dbos-sdk 5.3.0)', () => {
  const root = join(import.meta.dirname, '..', '..');

  it('the installed DBOS is exactly the pinned 5.3.0', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['@dbos-inc/dbos-sdk']).toBe('5.3.0');
    expect((globalParams as { dbosVersion?: string }).dbosVersion).toBe('5.3.0');
  });

  it('recovery, claim and dispatch exist with the shapes dbos.ts calls', () => {
    const sysdb = SystemDatabase.prototype as unknown as Record<string, unknown>;
    expect(typeof sysdb.reenqueueWorkflowsForRecovery).toBe('function');
    expect((sysdb.reenqueueWorkflowsForRecovery as (...a: unknown[]) => unknown).length).toBe(3);
    expect(typeof sysdb.findAndMarkStartableWorkflows).toBe('function');
    const exec = DBOSExecutor.prototype as unknown as Record<string, unknown>;
    expect(typeof exec.dispatchDequeuedWorkflows).toBe('function');
    expect((exec.dispatchDequeuedWorkflows as (...a: unknown[]) => unknown).length).toBe(2);
    expect(typeof exec.recoverPendingWorkflows).toBe('function');
    expect(INTERNAL_QUEUE_NAME).toBe('_dbos_internal_queue');
    expect(typeof wfQueueRunner.getInternalQueue).toBe('function');
    expect(typeof globalParams.appVersion).toBe('string');
    expect(typeof migrateSystemDatabase).toBe('function');
    expect(typeof new GlobalLogger(undefined, { logger: { info() {}, debug() {}, warn() {}, error() {} } }).info).toBe('function');
  });

  it('recovery still selects by status, executor and version, and the claim still takes an owner token', () => {
    // the exactly-once argument in dbos.ts rests on these predicates
    const reenqueue = String((SystemDatabase.prototype as unknown as Record<string, unknown>).reenqueueWorkflowsForRecovery);
    expect(reenqueue).toMatch(/WHERE status = \$3\s+AND executor_id = \$4\s+AND application_version = \$5/);
    expect(reenqueue).toContain('owner_xid = NULL');
    expect(reenqueue).toContain('queue_name = COALESCE(queue_name, $2)');
    const claim = String((SystemDatabase.prototype as unknown as Record<string, unknown>).findAndMarkStartableWorkflows);
    expect(claim).toContain('FOR UPDATE SKIP LOCKED');
    expect(claim).toContain('owner_xid = $8');
    expect(claim).toContain('executor_id = $2');
    // launch-time recovery of our own id is still the same re-enqueue onto the internal queue
    const own = String((DBOSExecutor.prototype as unknown as Record<string, unknown>).recoverPendingWorkflows);
    expect(own).toContain('reenqueueWorkflowsForRecovery');
    expect(own).toContain('INTERNAL_QUEUE_NAME');
  });
});
