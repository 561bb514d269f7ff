/**
 * The CLI's spinner line, written to a recording stream: on a TTY log lines go above the spinner (erased and
 * redrawn), the line never wraps and `stop()` erases it; without a TTY only the log lines are written.
 */
import { describe, expect, it } from 'vitest';
import { StatusLine, type StatusStream } from '../../src/cli/status-line.js';

const CLEAR = '\r\u001b[2K';

function recorder(isTTY: boolean, columns = 60): StatusStream & { chunks: string[]; screen(): string[] } {
  const chunks: string[] = [];
  return {
    isTTY,
    columns,
    chunks,
    write(chunk: string) {
      chunks.push(chunk);
      return true;
    },
    /** What a terminal shows: lines, where CLEAR erases the current line. */
    screen() {
      const lines = [''];
      let rest = chunks.join('');
      while (rest.length) {
        if (rest.startsWith(CLEAR)) {
          lines[lines.length - 1] = '';
          rest = rest.slice(CLEAR.length);
        } else if (rest.startsWith('\n')) {
          lines.push('');
          rest = rest.slice(1);
        } else {
          lines[lines.length - 1] += rest[0] ?? '';
          rest = rest.slice(1);
        }
      }
      return lines;
    },
  };
}

describe('StatusLine', () => {
  it('on a TTY keeps the spinner under the log lines and erases it on stop', () => {
    const out = recorder(true);
    const s = new StatusLine(out, { intervalMs: 10_000 });
    s.set('waiting — resources (3/12 Current)');
    s.log('  0.5s planning server-side dry-run of 12 objects');
    let screen = out.screen();
    expect(screen[0]).toBe('  0.5s planning server-side dry-run of 12 objects');
    expect(screen[1]).toMatch(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \d+\.\ds waiting — resources \(3\/12 Current\)$/);
    s.set('waiting — resources (12/12 Current)');
    screen = out.screen();
    expect(screen).toHaveLength(2);
    expect(screen[1]).toContain('(12/12 Current)');
    s.stop();
    expect(out.screen()).toEqual(['  0.5s planning server-side dry-run of 12 objects', '']);
  });

  it('never writes a line wider than the terminal', () => {
    const out = recorder(true, 30);
    const s = new StatusLine(out, { intervalMs: 10_000 });
    s.set('waiting — resources: waiting for 500 objects to become Current');
    const line = out.screen().at(-1) ?? '';
    expect([...line].length).toBe(29);
    expect(line.endsWith('…')).toBe(true);
    s.stop();
  });

  it('without a TTY writes the log lines only', () => {
    const out = recorder(false);
    const s = new StatusLine(out);
    s.set('waiting');
    s.log('line one');
    s.set('still waiting');
    s.log('line two');
    s.stop();
    expect(out.chunks.join('')).toBe('line one\nline two\n');
    expect(s.animated).toBe(false);
  });
});
