/** A sleep that can be cut short: loops wait for new work and are woken by an append or a stop. */
export class Waker {
  private pending: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.pending === done) this.pending = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.pending = done;
    });
  }

  /** Ends the current sleep, if any (a wake while awake is not remembered). */
  wake(): void {
    this.pending?.();
  }
}
