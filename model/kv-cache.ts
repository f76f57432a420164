// What attention keeps of one sequence, per layer, in growable buffers: keys and values (grouped-query
// attention), or the latent and the rope key (DeepSeek's latent attention); `k`/`v` name the two rows either way.

const INITIAL_CAPACITY = 64;

class GrowableRows {
  private buf: Float32Array;
  length = 0;

  constructor(private readonly rowSize: number) {
    this.buf = new Float32Array(INITIAL_CAPACITY * rowSize);
  }

  append(rows: Float32Array): void {
    const needed = this.length * this.rowSize + rows.length;
    if (needed > this.buf.length) {
      const next = new Float32Array(Math.max(needed, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.length * this.rowSize));
      this.buf = next;
    }
    this.buf.set(rows, this.length * this.rowSize);
    this.length += rows.length / this.rowSize;
  }

  /** A view of every row so far (no copy). */
  view(): Float32Array {
    return this.buf.subarray(0, this.length * this.rowSize);
  }
}

export class KvCache {
  private readonly keys: GrowableRows[];
  private readonly values: GrowableRows[];

  /** `valueRowSize`: when the second row differs in size from the first (latent attention). */
  constructor(layers: number, rowSize: number, valueRowSize = rowSize) {
    this.keys = Array.from({ length: layers }, () => new GrowableRows(rowSize));
    this.values = Array.from({ length: layers }, () => new GrowableRows(valueRowSize));
  }

  /** Positions cached so far (the same for every layer after a full step). */
  get length(): number {
    return this.keys[this.keys.length - 1].length;
  }

  /** Appends this step's k, v [t, rowSize] to a layer and returns the whole cache of it. */
  extend(layer: number, k: Float32Array, v: Float32Array): { k: Float32Array; v: Float32Array; length: number } {
    this.keys[layer].append(k);
    this.values[layer].append(v);
    return { k: this.keys[layer].view(), v: this.values[layer].view(), length: this.keys[layer].length };
  }
}
