/**
 * A one-line spinner at the bottom of a terminal: "⠹ 4.2s waiting — resources: 9/12 Current". Log lines printed
 * through it appear above the spinner, which is redrawn under them; `stop()` erases it. When the stream is not a
 * TTY, nothing but the log lines is written (plain lines for CI logs and pipes).
 * @module
 */

/** What the status line writes to (process.stderr, or a fake in tests). */
export interface StatusStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR = '\r\u001b[2K';

/** A spinner line with log lines above it. */
export class StatusLine {
  private text = '';
  private frame = 0;
  private drawn = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  /** Whether the spinner is shown (a TTY); otherwise only log lines are written. */
  readonly animated: boolean;

  constructor(
    private readonly out: StatusStream,
    options: { animate?: boolean; intervalMs?: number } = {},
  ) {
    this.animated = options.animate ?? Boolean(out.isTTY);
    if (this.animated) {
      this.timer = setInterval(() => this.draw(), options.intervalMs ?? 100);
      this.timer.unref();
    }
  }

  /** Sets what the spinner says (shown with the elapsed time). */
  set(text: string): void {
    this.text = text;
    this.draw();
  }

  /** Prints a line above the spinner (or just the line, without a TTY). */
  log(line: string): void {
    if (this.drawn) this.out.write(CLEAR);
    this.out.write(`${line}\n`);
    this.drawn = false;
    this.draw();
  }

  /** Erases the spinner and stops animating; log lines still work after. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.out.write(CLEAR);
    this.drawn = false;
    this.text = '';
  }

  private draw(): void {
    if (!this.animated || !this.timer || !this.text) return;
    this.frame = (this.frame + 1) % FRAMES.length;
    const elapsed = `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
    let line = `${FRAMES[this.frame] ?? ''} ${elapsed} ${this.text}`;
    // never wrap: a wrapped line cannot be erased with one carriage return
    const width = (this.out.columns || 80) - 1; // 0 when the size is unknown
    if ([...line].length > width) line = `${[...line].slice(0, Math.max(0, width - 1)).join('')}…`;
    this.out.write(`${CLEAR}${line}`);
    this.drawn = true;
  }
}
