/**
 * A cluster whose control-plane component exited after `kwokctl create` (nodes Ready, but no controller-manager or
 * scheduler: no pod would ever be created) is noticed, the component started again, and a second exit fails the
 * creation naming it with its log. Real processes and pid files in the layout kwokctl writes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureControlPlaneRunning, readClusterPids } from '../../src/dev/cluster.js';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** A running process (sleeps until killed). */
function running(): number {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(c);
  return c.pid ?? 0;
}
/** The pid of a process that has exited. */
async function exited(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => c.once('exit', r));
  return c.pid ?? 0;
}

function clusterDir(pids: Record<string, number>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kwf-cp-'));
  mkdirSync(join(dir, 'pids'));
  mkdirSync(join(dir, 'logs'));
  for (const [c, pid] of Object.entries(pids)) writeFileSync(join(dir, 'pids', `${c}.pid`), String(pid));
  writeFileSync(
    join(dir, 'logs', 'kube-scheduler.log'),
    'starting\nE failed to listen on 127.0.0.1:40123: bind: address already in use\n',
  );
  return dir;
}

describe('ensureControlPlaneRunning', () => {
  it('all running: nothing is started', async () => {
    const dir = clusterDir({ 'kube-apiserver': running(), 'kube-scheduler': running() });
    let starts = 0;
    await ensureControlPlaneRunning(
      'c1',
      dir,
      () => undefined,
      () => Promise.resolve(void starts++),
    );
    expect(starts).toBe(0);
    rmSync(dir, { recursive: true });
  });

  it('an exited component is started again once, its dead pid file dropped first', async () => {
    const dir = clusterDir({ 'kube-apiserver': running(), 'kube-scheduler': await exited() });
    const lines: string[] = [];
    const seenBeforeStart: string[][] = [];
    await ensureControlPlaneRunning(
      'c1',
      dir,
      (l) => lines.push(l),
      () => {
        seenBeforeStart.push(Object.keys(readClusterPids(dir)));
        writeFileSync(join(dir, 'pids', 'kube-scheduler.pid'), String(running())); // what kwokctl start does
        return Promise.resolve();
      },
    );
    expect(seenBeforeStart).toEqual([['kube-apiserver']]);
    expect(lines.join('\n')).toMatch(
      /kube-scheduler exited after the start; starting again[\s\S]*address already in use/,
    );
    rmSync(dir, { recursive: true });
  });

  it('a component that exits again fails the creation, naming it and quoting its log', async () => {
    const dir = clusterDir({ 'kube-apiserver': running(), 'kube-scheduler': await exited() });
    const again = await exited();
    await expect(
      ensureControlPlaneRunning(
        'c1',
        dir,
        () => undefined,
        () => Promise.resolve(writeFileSync(join(dir, 'pids', 'kube-scheduler.pid'), String(again))),
      ),
    ).rejects.toThrow(
      /cluster c1: kube-scheduler exited again after a restart:\nkube-scheduler: starting\nE failed to listen/,
    );
    rmSync(dir, { recursive: true });
  });
});
