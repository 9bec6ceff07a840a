import { truncateVisible, type Paint } from './color.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * One status line on a stream (stderr for `start --wait`, so stdout stays the result). On a
 * terminal it is redrawn in place with a spinner; elsewhere (a pipe, CI) a line is printed only when
 * its `key` changes (a new step or state), never a stream of redraws.
 */
export class StatusLine {
  private frame = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastKey: string | null = null;
  private text: () => string = () => '';
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly p: Paint,
  ) {}

  get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  /** `text` is called on every redraw, so times in it keep moving. */
  update(key: string, text: () => string): void {
    this.text = text;
    if (this.tty) {
      this.timer ??= setInterval(() => this.draw(), 100);
      this.timer.unref();
      this.draw();
    } else if (key !== this.lastKey) {
      this.out.write(`${text()}\n`);
    }
    this.lastKey = key;
  }

  private draw(): void {
    this.frame = (this.frame + 1) % FRAMES.length;
    const width = (this.out.columns || 80) - 1;
    this.out.write(`\r\u001b[2K${truncateVisible(`${this.p.cyan(FRAMES[this.frame])} ${this.text()}`, width)}`);
    this.drawn = true;
  }

  /** Removes the line (on a terminal) and stops redrawing. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.tty && this.drawn) this.out.write('\r\u001b[2K');
    this.drawn = false;
  }
}
