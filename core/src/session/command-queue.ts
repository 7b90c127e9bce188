/**
 * A FIFO of waiting commands with a head index instead of shift() (no O(n) move per command on the hot path), and an
 * ordered merge for commands that come back from a lost connection.
 */
export class CommandQueue<T extends { readonly seq: number }> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Puts `returning` back with what waits, all in submission order (by `seq`). */
  merge(returning: T[]): void {
    if (returning.length === 0) return;
    const all = [...returning, ...this.drain()].sort((a, b) => a.seq - b.seq);
    this.items = all;
    this.head = 0;
  }

  /** Removes one item (an abort of a command not yet sent); O(n), off the hot path. */
  remove(item: T): boolean {
    const at = this.items.indexOf(item, this.head);
    if (at < 0) return false;
    this.items.splice(at, 1);
    return true;
  }

  /** Removes and returns the items `expired` selects, keeping the others in order. */
  removeWhere(expired: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i]!;
      (expired(item) ? removed : kept).push(item);
    }
    if (removed.length > 0) {
      this.items = kept;
      this.head = 0;
    }
    return removed;
  }

  /** Empties the queue, returning what waited, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}
