/**
 * Output memory for the encoder and for packets the decoder assembles from several chunks.
 * `new Uint8Array(n)` above 64 bytes gets its own off-heap, zero-filled
 * ArrayBuffer, which costs more than encoding a small packet; small outputs are therefore views into a shared
 * 64 KiB slab (the scheme of Node's Buffer pool). A view's bytes are never handed out twice or written again.
 * Callers must not transfer or detach `out.buffer` (a transferred slab is noticed and replaced).
 */

/** Outputs up to this size come from the slab; larger ones get an ArrayBuffer of their own. */
export const POOL_MAX_BYTES = 8 * 1024;
const SLAB_BYTES = 64 * 1024;

let large: (n: number) => Uint8Array = (n) => new Uint8Array(n);

/**
 * Use `fn` for outputs larger than {@link POOL_MAX_BYTES}, for example Node's `allocUnsafe` (of its Buffer class), which skips the
 * zero fill that `new Uint8Array(n)` must do (every byte is overwritten by the encoder anyway).
 */
export function setLargeAllocator(fn: (n: number) => Uint8Array): void {
  large = fn;
}

let slab: ArrayBuffer | null = null;
let used = 0;

/** `n` bytes that nobody else holds (zero-filled: slabs are fresh ArrayBuffers, never reused). */
export function allocate(n: number): Uint8Array {
  if (n > POOL_MAX_BYTES) return large(n);
  // A transferred slab has byteLength 0, so it is replaced here too.
  if (slab === null || used + n > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const out = new Uint8Array(slab, used, n);
  used += n;
  return out;
}
