// Reads the binary pixel-case files that tests/web/pdq_cases.py writes ("PDQCASE1", a count, then
// per case its width, height (little-endian uint32) and RGB bytes), for the browser harness
// (pdq-harness.js) and the Node runner of tests/web/test_pdq_js_node.py alike.

export const CASES_MAGIC = 'PDQCASE1';

/**
 * Each case of `bytes` (a Uint8Array, or a Node Buffer) as {width, height, rgba}: RGBA with the
 * alpha filled with a pattern, since alpha must not change the hash.
 */
export function* readCases(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (new TextDecoder('latin1').decode(bytes.subarray(0, 8)) !== CASES_MAGIC) throw new Error('not a cases file');
  const count = view.getUint32(8, true);
  let offset = 12;
  for (let index = 0; index < count; index++) {
    const width = view.getUint32(offset, true);
    const height = view.getUint32(offset + 4, true);
    offset += 8;
    const rgba = new Uint8ClampedArray(width * height * 4);
    for (let pixel = 0, source = offset; pixel < width * height; pixel++, source += 3) {
      rgba[pixel * 4] = bytes[source];
      rgba[pixel * 4 + 1] = bytes[source + 1];
      rgba[pixel * 4 + 2] = bytes[source + 2];
      rgba[pixel * 4 + 3] = (pixel * 37) & 255;
    }
    offset += width * height * 3;
    yield { width, height, rgba };
  }
}
