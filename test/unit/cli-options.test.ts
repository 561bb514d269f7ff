import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { completionScript } from '../../src/cli/completion.js';
import { buildProgram } from '../../src/cli/main.js';
import { durationSecondsArg, durationSecondsOrZeroArg, formatDocument, outputFormatOf } from '../../src/cli/options.js';

describe('duration flags', () => {
  it('accept what kubectl and helm accept', () => {
    expect(durationSecondsArg('600s')).toBe(600);
    expect(durationSecondsArg('10m')).toBe(600);
    expect(durationSecondsArg('1h30m')).toBe(5_400);
    expect(durationSecondsArg('600')).toBe(600);
    expect(durationSecondsOrZeroArg('0')).toBe(0);
  });

  it('refuse the rest with the accepted forms', () => {
    expect(() => durationSecondsArg('10 minutes')).toThrow(InvalidArgumentError);
    expect(() => durationSecondsArg('10 minutes')).toThrow(/a duration such as 30s, 10m, 1h30m/);
    expect(() => durationSecondsArg('0s')).toThrow(/longer than zero/);
  });

  it('reach the deploy command as seconds', () => {
    const program = buildProgram();
    const deploy = program.commands.find((c) => c.name() === 'deploy');
    deploy?.action(() => undefined);
    program.parse(['node', 'kwf', 'deploy', '-f', 'x.yaml', '--timeout', '10m', '--approval-timeout', '1h'], {
      from: 'node',
    });
    expect(deploy?.opts()).toMatchObject({ timeout: 600, approvalTimeout: 3_600 });
  });
});

describe('output formats', () => {
  it('-o wins over --json; text by default', () => {
    expect(outputFormatOf({})).toBe('text');
    expect(outputFormatOf({ json: true })).toBe('json');
    expect(outputFormatOf({ json: true, output: 'yaml' })).toBe('yaml');
  });

  it('prints one parseable document', () => {
    const doc = { outcome: 'succeeded', objects: [{ subject: 'Deployment/web' }] };
    expect(JSON.parse(formatDocument(doc, 'json'))).toEqual(doc);
    expect(parseYaml(formatDocument(doc, 'yaml'))).toEqual(doc);
  });
});

describe('completion', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kwf-completion-'));
  const script = join(dir, 'completion.bash');
  writeFileSync(script, completionScript(buildProgram(), 'bash'));
  /** Runs the generated bash function for the words typed so far (the last one being completed). */
  const complete = (...words: string[]): string[] => {
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kube_workflows_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        script,
        'kube-workflows',
        ...words,
      ],
      { encoding: 'utf8' },
    );
    return out.split('\n').filter(Boolean);
  };

  it('completes commands, sub-commands, flags and flag values', () => {
    try {
      expect(complete('de')).toEqual(['deploy', 'dev', 'demo']);
      expect(complete('dev', 'd')).toEqual(['down']);
      expect(complete('deploy', '--time')).toEqual(['--timeout']);
      expect(complete('deploy', '-o', '')).toEqual(['json', 'yaml', 'text']);
      expect(complete('monitor', 'st')).toEqual(['start', 'status', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('zsh gets the same function through bashcompinit', () => {
    const zsh = completionScript(buildProgram(), 'zsh');
    expect(zsh.startsWith('#compdef kube-workflows\nautoload -U +X bashcompinit && bashcompinit\n')).toBe(true);
    expect(zsh).toContain('complete -o default -F _kube_workflows_complete kube-workflows');
  });
});
