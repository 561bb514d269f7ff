/** `kube-workflows dev up --clusters N`: parsed as a whole number from 1 to 5, anything else is a usage error. */
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

/** The `dev up` command with its action replaced, and a function that parses arguments for it. */
function devUp(): { up: Command; parse: (...args: string[]) => void } {
  const program = buildProgram();
  program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  const dev = program.commands.find((c) => c.name() === 'dev');
  const up = dev?.commands.find((c) => c.name() === 'up');
  if (!dev || !up) throw new Error('no dev up command');
  for (const c of [program, dev, up]) c.exitOverride();
  up.action(() => undefined);
  return { up, parse: (...args) => program.parse(['node', 'kwf', 'dev', 'up', ...args], { from: 'node' }) };
}

describe('dev up --clusters', () => {
  it('defaults to one cluster of three nodes', () => {
    const { up, parse } = devUp();
    parse();
    expect(up.opts()).toEqual({ nodes: 3, clusters: 1 });
  });

  it('takes 1 to 5 clusters', () => {
    for (const n of [1, 3, 5]) {
      const { up, parse } = devUp();
      parse('--clusters', String(n));
      expect(up.opts()).toMatchObject({ clusters: n });
    }
  });

  it.each(['0', '6', '2.5', 'three', '-1'])('refuses --clusters %s with a usage error naming the range', (value) => {
    const { parse } = devUp();
    expect(() => parse('--clusters', value)).toThrow(
      expect.objectContaining({
        code: 'commander.invalidArgument',
        message: expect.stringContaining('expected a whole number from 1 to 5') as unknown,
      }),
    );
  });
});
