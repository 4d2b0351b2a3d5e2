/** A promise the test opens by hand: requests that await it wait until then. */
export class Gate {
  readonly #opened: Promise<void>;
  #open!: () => void;

  constructor() {
    this.#opened = new Promise((resolve) => (this.#open = resolve));
  }

  /** Resolves once the gate is open. */
  pass(): Promise<void> {
    return this.#opened;
  }

  open(): void {
    this.#open();
  }
}
