/**
 * PDQ (Meta's perceptual image hash), SHA-256 and MD5, computed on the person's own device.
 *
 * What a caller may rely on:
 * - `pdqHash(rgba, width, height)` gives the same 256 bits and quality as the server's
 *   `deepshield.signals.pdq.pdq_from_pixels` (the `pdqhash` 0.2.8 binding of Meta's C++) for the same
 *   pixels: hex is 64 lowercase digits, most significant bit first, as the CLI prints it.
 * - `hashFile(file)` decodes an image as the server's `decode_image` does (EXIF orientation applied, no
 *   colour conversion, alpha dropped keeping the stored colours) and hashes it; for a video or any
 *   other file it gives SHA-256 and MD5 only. Nothing is ever sent anywhere: every byte stays here.
 * - `selfTest()` is true only when this engine reproduces a known answer computed by `pdqhash`.
 *   A page must not submit hashes while it is false.
 *
 * Why it is written this way: the reference works in 32-bit floats, so every float operation of the
 * C++ is rounded here to float32 (`Math.fround`, or a store into a Float32Array) in the C++'s order;
 * luma alone is summed in doubles and then rounded, because `pdqhash` computes it with numpy in
 * float64 before casting to float32. The DCT's cosine table is shipped as float32 bit patterns:
 * ECMAScript does not promise how accurate `Math.cos` is.
 *
 * Speed without drift: the blur (two passes of Jarosz box filters along rows, then columns) is
 * streamed through the image top to bottom. Each column filter keeps one running sum per column and
 * a ring of its last `window` input rows, so it performs the C++'s additions and subtractions per
 * column in the same order, without a full-size float copy of the image; row filters run on four
 * rows at once (independent sums the CPU can overlap); the second pass divides only where the 64×64
 * decimation samples. Memory beyond the caller's pixels is O(width × window): about 0.4 MB at 12 MP.
 */
import md5 from '../vendor/js-md5/md5-lite.min.mjs';
import sha256 from '../vendor/js-sha256/sha256.min.mjs';

const fround = Math.fround;

/** Hash of an image too small to hash (a side under 5 pixels), as the reference gives it. */
export const ZERO_HASH = '0'.repeat(64);
const MIN_HASHABLE_SIDE = 5;
const SIDE = 64;
/** Files up to this size are read whole once, so SHA-256 can use WebCrypto's native digest. */
const WHOLE_READ_MAX_BYTES = 64 * 1024 * 1024;
/** Chunk size when streaming a file through the incremental digests. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** The server's default pixel limit (`MediaLimits.max_pixels`): larger images are refused there too. */
const MAX_PIXELS = 100_000_000;
/** How often (in input rows) the blur reports progress. */
const PROGRESS_ROWS = 256;

// Luma products in doubles, as numpy forms `R * 0.299 + G * 0.587 + B * 0.114` for uint8 input.
const LUMA_R = new Float64Array(256);
const LUMA_G = new Float64Array(256);
const LUMA_B = new Float64Array(256);
for (let level = 0; level < 256; level++) {
  LUMA_R[level] = level * 0.299;
  LUMA_G[level] = level * 0.587;
  LUMA_B[level] = level * 0.114;
}

// The reference's 16×64 DCT matrix, row-major: float32(float32(sqrt(2/64)) * cos(pi/128 * (i+1) * (2j+1)))
// with cos in double precision. Written as float32 bit patterns, 8 per string; tests/web regenerate it.
const DCT_MATRIX_HEX = [
  '3e34f6fe3e3487633e33a8723e325ab43e309ef63e2e764c3e2be20a3e28e3c6',
  '3e257d593e21b0dd3e1d80a83e18ef513e13ffa83e0eb4b93e0911c73e031a4c',
  '3df9a3ed3dec794d3ddebcd53dd076ff3dc1b0983db272bd3da2c6d53d92b689',
  '3d824bc13d63213d3d411ee43d1ea5703cf7944a3cb145043c5510d43b8e2871',
  'bb8e2871bc5510d4bcb14504bcf7944abd1ea570bd411ee4bd63213dbd824bc1',
  'bd92b689bda2c6d5bdb272bdbdc1b098bdd076ffbddebcd5bdec794dbdf9a3ed',
  'be031a4cbe0911c7be0eb4b9be13ffa8be18ef51be1d80a8be21b0ddbe257d59',
  'be28e3c6be2be20abe2e764cbe309ef6be325ab4be33a872be348763be34f6fe',
  '3e34cd213e330f613e2f982b3e2a700c3e23a3b93e1b43f53e1165663e062061',
  '3df3215c3dd7aa8b3dba20053d9aca9e3d73ef2f3d2fefbb3cd47d093c0e1d7b',
  'bc0e1d7bbcd47d09bd2fefbbbd73ef2fbd9aca9ebdba2005bdd7aa8bbdf3215c',
  'be062061be116566be1b43f5be23a3b9be2a700cbe2f982bbe330f61be34cd21',
  'be34cd21be330f61be2f982bbe2a700cbe23a3b9be1b43f5be116566be062061',
  'bdf3215cbdd7aa8bbdba2005bd9aca9ebd73ef2fbd2fefbbbcd47d09bc0e1d7b',
  '3c0e1d7b3cd47d093d2fefbb3d73ef2f3d9aca9e3dba20053dd7aa8b3df3215c',
  '3e0620613e1165663e1b43f53e23a3b93e2a700c3e2f982b3e330f613e34cd21',
  '3e3487633e309ef63e28e3c63e1d80a83e0eb4b93df9a3ed3dd076ff3da2c6d5',
  '3d63213d3cf7944a3b8e2871bcb14504bd411ee4bd92b689bdc1b098bdec794d',
  'be0911c7be18ef51be257d59be2e764cbe33a872be34f6febe325ab4be2be20a',
  'be21b0ddbe13ffa8be031a4cbddebcd5bdb272bdbd824bc1bd1ea570bc5510d4',
  '3c5510d43d1ea5703d824bc13db272bd3ddebcd53e031a4c3e13ffa83e21b0dd',
  '3e2be20a3e325ab43e34f6fe3e33a8723e2e764c3e257d593e18ef513e0911c7',
  '3dec794d3dc1b0983d92b6893d411ee43cb14504bb8e2871bcf7944abd63213d',
  'bda2c6d5bdd076ffbdf9a3edbe0eb4b9be1d80a8be28e3c6be309ef6be348763',
  '3e3425ce3e2d39863e1fa5123e0bee0a3de5acc63daaa9f23d5230453c8df1a9',
  'bc8df1a9bd523045bdaaa9f2bde5acc6be0bee0abe1fa512be2d3986be3425ce',
  'be3425cebe2d3986be1fa512be0bee0abde5acc6bdaaa9f2bd523045bc8df1a9',
  '3c8df1a93d5230453daaa9f23de5acc63e0bee0a3e1fa5123e2d39863e3425ce',
  '3e3425ce3e2d39863e1fa5123e0bee0a3de5acc63daaa9f23d5230453c8df1a9',
  'bc8df1a9bd523045bdaaa9f2bde5acc6be0bee0abe1fa512be2d3986be3425ce',
  'be3425cebe2d3986be1fa512be0bee0abde5acc6bdaaa9f2bd523045bc8df1a9',
  '3c8df1a93d5230453daaa9f23de5acc63e0bee0a3e1fa5123e2d39863e3425ce',
  '3e33a8723e28e3c63e13ffa83dec794d3da2c6d53d1ea570bb8e2871bd411ee4',
  'bdb272bdbdf9a3edbe18ef51be2be20abe348763be325ab4be257d59be0eb4b9',
  'bddebcd5bd92b689bcf7944a3c5510d43d63213d3dc1b0983e031a4c3e1d80a8',
  '3e2e764c3e34f6fe3e309ef63e21b0dd3e0911c73dd076ff3d824bc13cb14504',
  'bcb14504bd824bc1bdd076ffbe0911c7be21b0ddbe309ef6be34f6febe2e764c',
  'be1d80a8be031a4cbdc1b098bd63213dbc5510d43cf7944a3d92b6893ddebcd5',
  '3e0eb4b93e257d593e325ab43e3487633e2be20a3e18ef513df9a3ed3db272bd',
  '3d411ee43b8e2871bd1ea570bda2c6d5bdec794dbe13ffa8be28e3c6be33a872',
  '3e330f613e23a3b93e0620613dba20053d2fefbbbc0e1d7bbd73ef2fbdd7aa8b',
  'be116566be2a700cbe34cd21be2f982bbe1b43f5bdf3215cbd9aca9ebcd47d09',
  '3cd47d093d9aca9e3df3215c3e1b43f53e2f982b3e34cd213e2a700c3e116566',
  '3dd7aa8b3d73ef2f3c0e1d7bbd2fefbbbdba2005be062061be23a3b9be330f61',
  'be330f61be23a3b9be062061bdba2005bd2fefbb3c0e1d7b3d73ef2f3dd7aa8b',
  '3e1165663e2a700c3e34cd213e2f982b3e1b43f53df3215c3d9aca9e3cd47d09',
  'bcd47d09bd9aca9ebdf3215cbe1b43f5be2f982bbe34cd21be2a700cbe116566',
  'bdd7aa8bbd73ef2fbc0e1d7b3d2fefbb3dba20053e0620613e23a3b93e330f61',
  '3e325ab43e1d80a83dec794d3d824bc13b8e2871bd63213dbddebcd5be18ef51',
  'be309ef6be33a872be21b0ddbdf9a3edbd92b689bc5510d43d411ee43dd076ff',
  '3e13ffa83e2e764c3e3487633e257d593e031a4c3da2c6d53cb14504bd1ea570',
  'bdc1b098be0eb4b9be2be20abe34f6febe28e3c6be0911c7bdb272bdbcf7944a',
  '3cf7944a3db272bd3e0911c73e28e3c63e34f6fe3e2be20a3e0eb4b93dc1b098',
  '3d1ea570bcb14504bda2c6d5be031a4cbe257d59be348763be2e764cbe13ffa8',
  'bdd076ffbd411ee43c5510d43d92b6893df9a3ed3e21b0dd3e33a8723e309ef6',
  '3e18ef513ddebcd53d63213dbb8e2871bd824bc1bdec794dbe1d80a8be325ab4',
  '3e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85',
  'be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a85',
  '3e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85',
  'be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a85',
  '3e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85',
  'be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a85',
  '3e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85',
  'be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a85',
  '3e309ef63e0eb4b93da2c6d53b8e2871bd92b689be0911c7be2e764cbe325ab4',
  'be13ffa8bdb272bdbc5510d43d824bc13e031a4c3e2be20a3e33a8723e18ef51',
  '3dc1b0983cb14504bd63213dbdf9a3edbe28e3c6be348763be1d80a8bdd076ff',
  'bcf7944a3d411ee43dec794d3e257d593e34f6fe3e21b0dd3ddebcd53d1ea570',
  'bd1ea570bddebcd5be21b0ddbe34f6febe257d59bdec794dbd411ee43cf7944a',
  '3dd076ff3e1d80a83e3487633e28e3c63df9a3ed3d63213dbcb14504bdc1b098',
  'be18ef51be33a872be2be20abe031a4cbd824bc13c5510d43db272bd3e13ffa8',
  '3e325ab43e2e764c3e0911c73d92b689bb8e2871bda2c6d5be0eb4b9be309ef6',
  '3e2f982b3e0620613d73ef2fbcd47d09bdd7aa8bbe23a3b9be34cd21be1b43f5',
  'bdba2005bc0e1d7b3d9aca9e3e1165663e330f613e2a700c3df3215c3d2fefbb',
  'bd2fefbbbdf3215cbe2a700cbe330f61be116566bd9aca9e3c0e1d7b3dba2005',
  '3e1b43f53e34cd213e23a3b93dd7aa8b3cd47d09bd73ef2fbe062061be2f982b',
  'be2f982bbe062061bd73ef2f3cd47d093dd7aa8b3e23a3b93e34cd213e1b43f5',
  '3dba20053c0e1d7bbd9aca9ebe116566be330f61be2a700cbdf3215cbd2fefbb',
  '3d2fefbb3df3215c3e2a700c3e330f613e1165663d9aca9ebc0e1d7bbdba2005',
  'be1b43f5be34cd21be23a3b9bdd7aa8bbcd47d093d73ef2f3e0620613e2f982b',
  '3e2e764c3df9a3ed3d1ea570bd63213dbe0911c7be325ab4be28e3c6bddebcd5',
  'bcb145043d92b6893e13ffa83e3487633e21b0dd3dc1b0983b8e2871bdb272bd',
  'be1d80a8be34f6febe18ef51bda2c6d53c5510d43dd076ff3e257d593e33a872',
  '3e0eb4b93d824bc1bcf7944abdec794dbe2be20abe309ef6be031a4cbd411ee4',
  '3d411ee43e031a4c3e309ef63e2be20a3dec794d3cf7944abd824bc1be0eb4b9',
  'be33a872be257d59bdd076ffbc5510d43da2c6d53e18ef513e34f6fe3e1d80a8',
  '3db272bdbb8e2871bdc1b098be21b0ddbe348763be13ffa8bd92b6893cb14504',
  '3ddebcd53e28e3c63e325ab43e0911c73d63213dbd1ea570bdf9a3edbe2e764c',
  '3e2d39863de5acc63c8df1a9bdaaa9f2be1fa512be3425cebe0bee0abd523045',
  '3d5230453e0bee0a3e3425ce3e1fa5123daaa9f2bc8df1a9bde5acc6be2d3986',
  'be2d3986bde5acc6bc8df1a93daaa9f23e1fa5123e3425ce3e0bee0a3d523045',
  'bd523045be0bee0abe3425cebe1fa512bdaaa9f23c8df1a93de5acc63e2d3986',
  '3e2d39863de5acc63c8df1a9bdaaa9f2be1fa512be3425cebe0bee0abd523045',
  '3d5230453e0bee0a3e3425ce3e1fa5123daaa9f2bc8df1a9bde5acc6be2d3986',
  'be2d3986bde5acc6bc8df1a93daaa9f23e1fa5123e3425ce3e0bee0a3d523045',
  'bd523045be0bee0abe3425cebe1fa512bdaaa9f23c8df1a93de5acc63e2d3986',
  '3e2be20a3dd076ffbb8e2871bddebcd5be2e764cbe28e3c6bdc1b0983c5510d4',
  '3dec794d3e309ef63e257d593db272bdbcb14504bdf9a3edbe325ab4be21b0dd',
  'bda2c6d53cf7944a3e031a4c3e33a8723e1d80a83d92b689bd1ea570be0911c7',
  'be348763be18ef51bd824bc13d411ee43e0eb4b93e34f6fe3e13ffa83d63213d',
  'bd63213dbe13ffa8be34f6febe0eb4b9bd411ee43d824bc13e18ef513e348763',
  '3e0911c73d1ea570bd92b689be1d80a8be33a872be031a4cbcf7944a3da2c6d5',
  '3e21b0dd3e325ab43df9a3ed3cb14504bdb272bdbe257d59be309ef6bdec794d',
  'bc5510d43dc1b0983e28e3c63e2e764c3ddebcd53b8e2871bdd076ffbe2be20a',
  '3e2a700c3dba2005bcd47d09be062061be34cd21be116566bd2fefbb3d9aca9e',
  '3e23a3b93e2f982b3dd7aa8bbc0e1d7bbdf3215cbe330f61be1b43f5bd73ef2f',
  '3d73ef2f3e1b43f53e330f613df3215c3c0e1d7bbdd7aa8bbe2f982bbe23a3b9',
  'bd9aca9e3d2fefbb3e1165663e34cd213e0620613cd47d09bdba2005be2a700c',
  'be2a700cbdba20053cd47d093e0620613e34cd213e1165663d2fefbbbd9aca9e',
  'be23a3b9be2f982bbdd7aa8b3c0e1d7b3df3215c3e330f613e1b43f53d73ef2f',
  'bd73ef2fbe1b43f5be330f61bdf3215cbc0e1d7b3dd7aa8b3e2f982b3e23a3b9',
  '3d9aca9ebd2fefbbbe116566be34cd21be062061bcd47d093dba20053e2a700c',
  '3e28e3c63da2c6d5bd411ee4be18ef51be325ab4bddebcd53c5510d43e031a4c',
  '3e34f6fe3e0911c73cb14504bdd076ffbe309ef6be1d80a8bd63213d3d92b689',
  '3e257d593e2be20a3db272bdbd1ea570be13ffa8be33a872bdec794d3b8e2871',
  '3df9a3ed3e3487633e0eb4b93cf7944abdc1b098be2e764cbe21b0ddbd824bc1',
  '3d824bc13e21b0dd3e2e764c3dc1b098bcf7944abe0eb4b9be348763bdf9a3ed',
  'bb8e28713dec794d3e33a8723e13ffa83d1ea570bdb272bdbe2be20abe257d59',
  'bd92b6893d63213d3e1d80a83e309ef63dd076ffbcb14504be0911c7be34f6fe',
  'be031a4cbc5510d43ddebcd53e325ab43e18ef513d411ee4bda2c6d5be28e3c6',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
  '3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74',
].join('');

const DCT_MATRIX = (() => {
  const bits = new Uint32Array(16 * SIDE);
  for (let index = 0; index < bits.length; index++) {
    bits[index] = parseInt(DCT_MATRIX_HEX.slice(index * 8, index * 8 + 8), 16);
  }
  return new Float32Array(bits.buffer);
})();

/** Window of one Jarosz box-filter pass, as `computeJaroszFilterWindowSize(n, 64)`. */
function jaroszWindow(length) {
  return ((length + 2 * SIDE - 1) / (2 * SIDE)) | 0;
}

/** The 64 source indices the decimation samples: `(int)(((i + 0.5) * n) / 64)` in doubles. */
function decimationIndices(length) {
  const indices = new Int32Array(SIDE);
  for (let index = 0; index < SIDE; index++) {
    indices[index] = Math.trunc(((index + 0.5) * length) / SIDE);
  }
  return indices;
}

function checkPixels(rgba, width, height) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`the image size must be whole numbers, not ${width}×${height}`);
  }
  if (!ArrayBuffer.isView(rgba) || rgba.BYTES_PER_ELEMENT !== 1) {
    throw new TypeError('the pixels must be a Uint8ClampedArray (or Uint8Array) of RGBA bytes');
  }
  if (rgba.length < width * height * 4) {
    throw new RangeError(`expected ${width * height * 4} bytes of RGBA pixels for ${width}×${height}`);
  }
}

/** Luma of row `row` into `out` (float32), summed in doubles and rounded once, as numpy does. */
function lumaRow(rgba, width, row, out) {
  let offset = row * width * 4;
  for (let column = 0; column < width; column++, offset += 4) {
    out[column] = LUMA_R[rgba[offset]] + LUMA_G[rgba[offset + 1]] + LUMA_B[rgba[offset + 2]];
  }
}

/** The same from a little-endian 32-bit view of the pixels: one load a pixel instead of three. */
function lumaRowWords(words, width, row, out) {
  let offset = row * width;
  for (let column = 0; column < width; column++, offset++) {
    const pixel = words[offset];
    out[column] = LUMA_R[pixel & 255] + LUMA_G[(pixel >>> 8) & 255] + LUMA_B[(pixel >>> 16) & 255];
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** `fill(row, out)`: the luma of a row, read through a 32-bit view where the pixels allow one. */
function lumaReader(rgba, width, height) {
  if (LITTLE_ENDIAN && rgba.buffer instanceof ArrayBuffer && rgba.byteOffset % 4 === 0) {
    const words = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
    return (row, out) => lumaRowWords(words, width, row, out);
  }
  return (row, out) => lumaRow(rgba, width, row, out);
}

/**
 * One box-filter pass along a row (the C++ `box1DFloat` with stride 1): the same phases, the same
 * running float sum, `sum / count` rounded to float32 by the store.
 */
function boxRow(input, output, length, window) {
  const half = ((window + 2) / 2) | 0;
  const phase2 = window - half + 1;
  const phase3 = length - window;
  const phase4 = half - 1;
  let sum = 0;
  let count = 0;
  let right = 0;
  let left = 0;
  let out = 0;
  for (let step = 0; step < half - 1; step++) {
    sum = fround(sum + input[right++]);
    count++;
  }
  for (let step = 0; step < phase2; step++) {
    sum = fround(sum + input[right++]);
    count++;
    output[out++] = sum / count;
  }
  for (let step = 0; step < phase3; step++) {
    sum = fround(fround(sum + input[right++]) - input[left++]);
    output[out++] = sum / count;
  }
  for (let step = 0; step < phase4; step++) {
    sum = fround(sum - input[left++]);
    count--;
    output[out++] = sum / count;
  }
}

/**
 * The same pass, but only the outputs at `columns` (sorted, repeats allowed) are divided and kept in
 * `picked`: the running sum still takes every step, since its rounding depends on all of them.
 */
function boxRowPicked(input, length, window, columns, picked) {
  const half = ((window + 2) / 2) | 0;
  const lead = half - 1; // output `out` adds input[out + lead] and subtracts input[out + lead - window]
  const phase2End = window - half + 1;
  const phase3End = length - half + 1;
  let sum = 0;
  for (let right = 0; right < lead; right++) sum = fround(sum + input[right]);
  let out = 0;
  let pick = 0;
  while (pick < SIDE) {
    const target = columns[pick];
    let end = target < phase2End ? target + 1 : phase2End;
    for (; out < end; out++) sum = fround(sum + input[out + lead]);
    end = target < phase3End ? target + 1 : phase3End;
    for (; out < end; out++) sum = fround(fround(sum + input[out + lead]) - input[out + lead - window]);
    for (; out <= target; out++) sum = fround(sum - input[out + lead - window]);
    let count = window;
    if (target < phase2End) count = target + half;
    else if (target >= phase3End) count = window - 1 - (target - phase3End);
    const value = fround(sum / count);
    do picked[pick++] = value; while (pick < SIDE && columns[pick] === target);
  }
}

/**
 * `boxRow` on four consecutive rows of `input` at once (row r at offset r × length), into the same
 * places of `output`. Each row's steps are exactly `boxRow`'s; interleaving four independent running
 * sums lets the CPU overlap them, where one sum alone waits on every rounding in turn.
 */
function boxFourRows(input, output, length, window) {
  const half = ((window + 2) / 2) | 0;
  const lead = half - 1;
  const phase2End = window - half + 1;
  const phase3End = length - half + 1;
  const L1 = length;
  const L2 = 2 * length;
  const L3 = 3 * length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < lead; i++) {
    s0 = fround(s0 + input[i]);
    s1 = fround(s1 + input[i + L1]);
    s2 = fround(s2 + input[i + L2]);
    s3 = fround(s3 + input[i + L3]);
  }
  let out = 0;
  for (; out < phase2End; out++) {
    const i = out + lead;
    const count = out + half;
    s0 = fround(s0 + input[i]);
    s1 = fround(s1 + input[i + L1]);
    s2 = fround(s2 + input[i + L2]);
    s3 = fround(s3 + input[i + L3]);
    output[out] = s0 / count;
    output[out + L1] = s1 / count;
    output[out + L2] = s2 / count;
    output[out + L3] = s3 / count;
  }
  for (; out < phase3End; out++) {
    const i = out + lead;
    const j = i - window;
    s0 = fround(fround(s0 + input[i]) - input[j]);
    s1 = fround(fround(s1 + input[i + L1]) - input[j + L1]);
    s2 = fround(fround(s2 + input[i + L2]) - input[j + L2]);
    s3 = fround(fround(s3 + input[i + L3]) - input[j + L3]);
    output[out] = s0 / window;
    output[out + L1] = s1 / window;
    output[out + L2] = s2 / window;
    output[out + L3] = s3 / window;
  }
  for (let count = window - 1; out < length; out++, count--) {
    const j = out + lead - window;
    s0 = fround(s0 - input[j]);
    s1 = fround(s1 - input[j + L1]);
    s2 = fround(s2 - input[j + L2]);
    s3 = fround(s3 - input[j + L3]);
    output[out] = s0 / count;
    output[out + L1] = s1 / count;
    output[out + L2] = s2 / count;
    output[out + L3] = s3 / count;
  }
}

/** `boxRowPicked` on four consecutive rows at once; row r's 64 picks go to `picked[r × 64...]`. */
function boxFourRowsPicked(input, length, window, columns, picked) {
  const half = ((window + 2) / 2) | 0;
  const lead = half - 1;
  const phase2End = window - half + 1;
  const phase3End = length - half + 1;
  const L1 = length;
  const L2 = 2 * length;
  const L3 = 3 * length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let i = 0; i < lead; i++) {
    s0 = fround(s0 + input[i]);
    s1 = fround(s1 + input[i + L1]);
    s2 = fround(s2 + input[i + L2]);
    s3 = fround(s3 + input[i + L3]);
  }
  let out = 0;
  let pick = 0;
  while (pick < SIDE) {
    const target = columns[pick];
    let end = target < phase2End ? target + 1 : phase2End;
    for (; out < end; out++) {
      const i = out + lead;
      s0 = fround(s0 + input[i]);
      s1 = fround(s1 + input[i + L1]);
      s2 = fround(s2 + input[i + L2]);
      s3 = fround(s3 + input[i + L3]);
    }
    end = target < phase3End ? target + 1 : phase3End;
    for (; out < end; out++) {
      const i = out + lead;
      const j = i - window;
      s0 = fround(fround(s0 + input[i]) - input[j]);
      s1 = fround(fround(s1 + input[i + L1]) - input[j + L1]);
      s2 = fround(fround(s2 + input[i + L2]) - input[j + L2]);
      s3 = fround(fround(s3 + input[i + L3]) - input[j + L3]);
    }
    for (; out <= target; out++) {
      const j = out + lead - window;
      s0 = fround(s0 - input[j]);
      s1 = fround(s1 - input[j + L1]);
      s2 = fround(s2 - input[j + L2]);
      s3 = fround(s3 - input[j + L3]);
    }
    let count = window;
    if (target < phase2End) count = target + half;
    else if (target >= phase3End) count = window - 1 - (target - phase3End);
    const v0 = fround(s0 / count);
    const v1 = fround(s1 / count);
    const v2 = fround(s2 / count);
    const v3 = fround(s3 / count);
    do {
      picked[pick] = v0;
      picked[pick + SIDE] = v1;
      picked[pick + 2 * SIDE] = v2;
      picked[pick + 3 * SIDE] = v3;
      pick++;
    } while (pick < SIDE && columns[pick] === target);
  }
}

/**
 * A box-filter pass along columns, fed one input row at a time (rows 0, 1, 2... in order). For every
 * column it performs the C++ `box1DFloat` steps with stride `width`, in the same order, so the sums
 * round identically; `emit(row, values)` receives each finished output row, in order.
 */
class ColumnBox {
  constructor(width, height, window, emit) {
    this.width = width;
    this.height = height;
    this.window = window;
    this.half = ((window + 2) / 2) | 0;
    this.sums = new Float32Array(width);
    this.ring = new Float32Array(width * window); // the last `window` input rows, for the subtractions
    this.output = new Float32Array(width);
    this.emit = emit;
    this.nextRow = 0;
    this.slot = 0;
  }

  push(values) {
    const { width, sums, ring, output } = this;
    const row = this.nextRow++;
    const base = this.slot * width;
    this.slot = this.slot + 1 === this.window ? 0 : this.slot + 1;
    const emits = row >= this.half - 1;
    const count = row + 1 < this.window ? row + 1 : this.window;
    if (row < this.window) {
      for (let column = 0; column < width; column++) {
        const value = values[column];
        const sum = fround(sums[column] + value);
        sums[column] = sum;
        ring[base + column] = value;
        output[column] = sum / count;
      }
    } else {
      for (let column = 0; column < width; column++) {
        const value = values[column];
        const sum = fround(fround(sums[column] + value) - ring[base + column]);
        sums[column] = sum;
        ring[base + column] = value;
        output[column] = sum / count;
      }
    }
    if (emits) this.emit(row - this.half + 1, output);
  }

  /** The last `half - 1` output rows, where the window shrinks; call after the last `push`. */
  finish() {
    const { width, height, window, sums, ring, output } = this;
    for (let step = 0; step < this.half - 1; step++) {
      const base = ((height - window + step) % window) * width;
      const count = window - 1 - step;
      for (let column = 0; column < width; column++) {
        sums[column] -= ring[base + column];
        output[column] = sums[column] / count;
      }
      this.emit(height - this.half + 1 + step, output);
    }
  }
}

/**
 * The reference's 64×64 float luma: Jarosz filter (two passes of rows then columns) and decimation,
 * or the luma itself for a 64×64 image (the reference skips the filter there).
 */
function downsampleLuma(rgba, width, height, onProgress) {
  const buffer64x64 = new Float32Array(SIDE * SIDE);
  const fillLuma = lumaReader(rgba, width, height);
  if (width === SIDE && height === SIDE) {
    for (let row = 0; row < SIDE; row++) fillLuma(row, buffer64x64.subarray(row * SIDE, (row + 1) * SIDE));
    return buffer64x64;
  }
  const rowWindow = jaroszWindow(width);
  const columnWindow = jaroszWindow(height);
  const sampledColumns = decimationIndices(width);
  const sampledRows = decimationIndices(height);
  // Rows go through the row passes four at a time (see boxFourRows), one at a time at the end.
  const luma = new Float32Array(4 * width);
  const boxed = new Float32Array(4 * width);
  const blurred = new Float32Array(4 * width); // rows out of the first column pass, awaiting the second row pass
  const picked = new Float32Array(4 * SIDE);
  let blurredRows = 0;
  let nextSample = 0;
  const secondColumns = new ColumnBox(SIDE, height, columnWindow, (row, values) => {
    while (nextSample < SIDE && sampledRows[nextSample] === row) {
      buffer64x64.set(values, nextSample * SIDE);
      nextSample++;
    }
  });
  const pickBlurred = () => {
    if (blurredRows === 4) {
      boxFourRowsPicked(blurred, width, rowWindow, sampledColumns, picked);
    } else {
      for (let row = 0; row < blurredRows; row++) {
        boxRowPicked(blurred.subarray(row * width), width, rowWindow, sampledColumns,
          picked.subarray(row * SIDE, (row + 1) * SIDE));
      }
    }
    for (let row = 0; row < blurredRows; row++) secondColumns.push(picked.subarray(row * SIDE, (row + 1) * SIDE));
    blurredRows = 0;
  };
  const firstColumns = new ColumnBox(width, height, columnWindow, (_row, values) => {
    blurred.set(values, blurredRows * width);
    blurredRows++;
    if (blurredRows === 4) pickBlurred();
  });
  let row = 0;
  for (; row + 4 <= height; row += 4) {
    for (let k = 0; k < 4; k++) fillLuma(row + k, luma.subarray(k * width, (k + 1) * width));
    boxFourRows(luma, boxed, width, rowWindow);
    for (let k = 0; k < 4; k++) firstColumns.push(boxed.subarray(k * width, (k + 1) * width));
    if (onProgress && row % PROGRESS_ROWS === 0) onProgress(row / height);
  }
  for (; row < height; row++) {
    fillLuma(row, luma);
    boxRow(luma, boxed, width, rowWindow);
    firstColumns.push(boxed);
  }
  firstColumns.finish();
  pickBlurred();
  secondColumns.finish();
  return buffer64x64;
}

/** Quality 0–100 from the 64×64 image, as `pdqImageDomainQualityMetric` (float steps, int truncation). */
function qualityOf(buffer64x64) {
  let gradientSum = 0;
  for (let row = 0; row < SIDE - 1; row++) {
    for (let column = 0; column < SIDE; column++) {
      const u = buffer64x64[row * SIDE + column];
      const v = buffer64x64[(row + 1) * SIDE + column];
      gradientSum += Math.abs(Math.trunc(fround(fround(fround(u - v) * 100) / 255)));
    }
  }
  for (let row = 0; row < SIDE; row++) {
    for (let column = 0; column < SIDE - 1; column++) {
      const u = buffer64x64[row * SIDE + column];
      const v = buffer64x64[row * SIDE + column + 1];
      gradientSum += Math.abs(Math.trunc(fround(fround(fround(u - v) * 100) / 255)));
    }
  }
  return Math.min(100, Math.trunc(gradientSum / 90));
}

/** B = D A Dᵀ for the 16 lowest non-constant frequencies, summed in float32 in k order (`dct64To16`). */
function dct64To16(buffer64x64) {
  const partial = new Float32Array(16 * SIDE);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < SIDE; j++) {
      let sum = 0;
      for (let k = 0; k < SIDE; k++) {
        sum = fround(sum + fround(DCT_MATRIX[i * SIDE + k] * buffer64x64[k * SIDE + j]));
      }
      partial[i * SIDE + j] = sum;
    }
  }
  const output = new Float32Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < SIDE; k++) {
        sum = fround(sum + fround(partial[i * SIDE + k] * DCT_MATRIX[j * SIDE + k]));
      }
      output[i * 16 + j] = sum;
    }
  }
  return output;
}

/** Median by Torben Mogensen's method, as the reference's `torben` (float32 midpoint, strict tests). */
function torbenMedian(values) {
  const count = values.length;
  let min = values[0];
  let max = values[0];
  for (let index = 1; index < count; index++) {
    if (values[index] < min) min = values[index];
    if (values[index] > max) max = values[index];
  }
  const half = ((count + 1) / 2) | 0;
  let less;
  let greater;
  let equal;
  let guess;
  let maxBelowGuess;
  let minAboveGuess;
  for (;;) {
    guess = fround(fround(min + max) / 2);
    less = 0;
    greater = 0;
    equal = 0;
    maxBelowGuess = min;
    minAboveGuess = max;
    for (let index = 0; index < count; index++) {
      const value = values[index];
      if (value < guess) {
        less++;
        if (value > maxBelowGuess) maxBelowGuess = value;
      } else if (value > guess) {
        greater++;
        if (value < minAboveGuess) minAboveGuess = value;
      } else {
        equal++;
      }
    }
    if (less <= half && greater <= half) break;
    if (less > greater) max = maxBelowGuess;
    else min = minAboveGuess;
  }
  if (less >= half) return maxBelowGuess;
  if (less + equal >= half) return guess;
  return minAboveGuess;
}

/** 64 hex digits from the 256 coefficients: bit k set when coefficient k exceeds the median. */
function hexFromCoefficients(coefficients) {
  const median = torbenMedian(coefficients);
  const words = new Uint16Array(16);
  for (let bit = 0; bit < 256; bit++) {
    if (coefficients[bit] > median) words[bit >> 4] |= 1 << (bit & 15);
  }
  let hex = '';
  for (let word = 15; word >= 0; word--) hex += words[word].toString(16).padStart(4, '0');
  return hex;
}

/**
 * The 16×16 DCT coefficients (row-major, float32) and quality, as `pdqFloat256FromFloatLuma` leaves
 * them. `pdqhash.compute_float` returns the same 256 floats in reverse order. Sides under 5 are
 * hashed anyway here, as the reference's float function does; `pdqHash` is what refuses them.
 */
export function pdqFloat256(rgba, width, height, onProgress) {
  checkPixels(rgba, width, height);
  if (width === 0 || height === 0) throw new RangeError('an empty image has no DCT');
  const buffer64x64 = downsampleLuma(rgba, width, height, onProgress);
  return { coefficients: dct64To16(buffer64x64), quality: qualityOf(buffer64x64) };
}

/**
 * PDQ hash and quality of RGBA pixels (4 bytes a pixel, row-major; alpha is ignored), identical to
 * the server's. Returns `{hash, quality}`, hash as 64 lowercase hex digits; an image with a side under
 * 5 pixels gives the all-zero hash and quality 0, as the reference does. `onProgress(fraction)`, if
 * given, is called as the rows are blurred.
 */
export function pdqHash(rgba, width, height, onProgress) {
  checkPixels(rgba, width, height);
  if (width < MIN_HASHABLE_SIDE || height < MIN_HASHABLE_SIDE) return { hash: ZERO_HASH, quality: 0 };
  const { coefficients, quality } = pdqFloat256(rgba, width, height, onProgress);
  return { hash: hexFromCoefficients(coefficients), quality };
}

// ---------------------------------------------------------------- self-test

// A known answer: `pdqhash.compute` on the pixels `selfTestPixels` makes (tests/web/pdq_cases.py
// builds the same array and checks these constants, so a change on either side is caught).
const SELF_TEST_WIDTH = 301;
const SELF_TEST_HEIGHT = 203;
const SELF_TEST_HASH = '9b63f07798c5dd6765d82dc8a20c36d806adc73c824d4d730967e5d761860f78';
const SELF_TEST_QUALITY = 81;
const SELF_TEST_MD5 = '9137cece53032f3d5182d31ecd917274';
const SELF_TEST_SHA256 = '1911094a36d1179165c9559154a50d8217b9d9f20a2fe54a589f948f40c23d1c';

/** The self-test image: gradients, a disc and deterministic noise (a 32-bit LCG), RGBA. */
export function selfTestPixels() {
  const width = SELF_TEST_WIDTH;
  const height = SELF_TEST_HEIGHT;
  const rgba = new Uint8ClampedArray(width * height * 4);
  let state = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const noise = state >>> 24;
      const dx = x - 150;
      const dy = y - 90;
      const disc = dx * dx + dy * dy < 60 * 60 ? 80 : 0;
      const offset = (y * width + x) * 4;
      rgba[offset] = (x * 128 / (width - 1) + disc + (noise >> 3)) & 255;
      rgba[offset + 1] = (y * 128 / (height - 1) + (noise >> 3)) & 255;
      rgba[offset + 2] = (((x + y) >> 2) + (noise >> 3)) & 255;
      rgba[offset + 3] = (noise * 7) & 255; // alpha must not matter
    }
  }
  return { rgba, width, height };
}

/**
 * True when this engine reproduces the known PDQ hash and quality of the built-in image, and the
 * vendored MD5 and SHA-256 reproduce their known digests of its bytes. Synchronous, a few ms.
 */
export function selfTest() {
  try {
    const { rgba, width, height } = selfTestPixels();
    const { hash, quality } = pdqHash(rgba, width, height);
    return hash === SELF_TEST_HASH && quality === SELF_TEST_QUALITY
      && md5.hex(rgba) === SELF_TEST_MD5 && sha256.hex(rgba) === SELF_TEST_SHA256;
  } catch (error) {
    return false;
  }
}

// ---------------------------------------------------------------- files

/** An error whose message is written for the person using the page. */
export class HashingError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HashingError';
  }
}

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1',
  'avif', 'avis']);
const TEXT = new TextDecoder('latin1');

/**
 * What a file is from its first bytes, as the server's `sniff_media_type` decides (names and
 * extensions are never trusted): `{kind: 'image'|'video'|'other', format}`.
 */
export function sniffFormat(head) {
  const ascii = (start, end) => TEXT.decode(head.subarray(start, end));
  const starts = (...bytes) => bytes.every((value, index) => head[index] === value);
  if (starts(0xff, 0xd8, 0xff)) return { kind: 'image', format: 'jpeg' };
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return { kind: 'image', format: 'png' };
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return { kind: 'image', format: 'webp' };
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return { kind: 'image', format: 'gif' };
  if (ascii(0, 2) === 'BM' && head.length >= 14) return { kind: 'image', format: 'bmp' };
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return { kind: 'image', format: 'tiff' };
  if (starts(0x1a, 0x45, 0xdf, 0xa3)) {
    return { kind: 'video', format: ascii(0, 64).includes('webm') ? 'webm' : 'mkv' };
  }
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'avif' || brand === 'avis') return { kind: 'image', format: 'avif' };
    if (HEIF_BRANDS.has(brand)) return { kind: 'image', format: 'heif' };
    return { kind: 'video', format: brand === 'qt  ' ? 'mov' : 'mp4' };
  }
  if (['moov', 'mdat', 'wide', 'free', 'skip', 'pnot'].includes(ascii(4, 8))) return { kind: 'video', format: 'mov' };
  return { kind: 'other', format: null };
}

function progressReporter(onProgress, start, end) {
  if (typeof onProgress !== 'function') return () => {};
  return (fraction) => onProgress(start + (end - start) * Math.min(1, Math.max(0, fraction)));
}

function hexOf(buffer) {
  return Array.from(new Uint8Array(buffer), (value) => value.toString(16).padStart(2, '0')).join('');
}

/**
 * SHA-256 and MD5 (hex) of a File or Blob, read in chunks with `slice`, so a large video never
 * has to fit in memory. Files up to 64 MiB are read once and SHA-256 uses WebCrypto where it is
 * available. `onProgress(fraction)` is called as chunks are digested.
 */
export async function digestFile(file, onProgress) {
  const report = progressReporter(onProgress, 0, 1);
  const md5State = md5.create();
  const size = file.size;
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (subtle && size <= WHOLE_READ_MAX_BYTES) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256Promise = subtle.digest('SHA-256', bytes);
    for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
      md5State.update(bytes.subarray(offset, offset + CHUNK_BYTES));
      report(Math.min(size, offset + CHUNK_BYTES) / size);
    }
    return { sha256: hexOf(await sha256Promise), md5: md5State.hex() };
  }
  const sha256State = sha256.create();
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
    const chunk = new Uint8Array(await file.slice(offset, offset + CHUNK_BYTES).arrayBuffer());
    md5State.update(chunk);
    sha256State.update(chunk);
    report(Math.min(size, offset + CHUNK_BYTES) / size);
  }
  return { sha256: sha256State.hex(), md5: md5State.hex() };
}

function makeCanvas(width, height) {
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(width, height);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/**
 * The stored RGBA of an image with transparency, through a WebGL2 texture: a 2D canvas premultiplies
 * alpha, which loses the colour of transparent pixels that the server keeps. Null without WebGL2.
 */
function unpremultipliedPixels(bitmap) {
  const { width, height } = bitmap;
  let gl = null;
  try {
    gl = makeCanvas(1, 1).getContext('webgl2', { premultipliedAlpha: false, antialias: false });
  } catch (error) {
    gl = null;
  }
  if (!gl || width > gl.getParameter(gl.MAX_TEXTURE_SIZE) || height > gl.getParameter(gl.MAX_TEXTURE_SIZE)) {
    return null;
  }
  try {
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    const framebuffer = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    const pixels = new Uint8Array(width * height * 4); // the view type WebGL requires for UNSIGNED_BYTE
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    const failed = gl.getError() !== gl.NO_ERROR;
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
    return failed ? null : new Uint8ClampedArray(pixels.buffer);
  } finally {
    const lose = gl.getExtension('WEBGL_lose_context');
    if (lose) lose.loseContext();
  }
}

function hasTransparency(rgba) {
  for (let offset = 3; offset < rgba.length; offset += 4) {
    if (rgba[offset] !== 255) return true;
  }
  return false;
}

/** How much of a GIF is read to find its first frame's transparent colour. */
const GIF_HEAD_BYTES = 256 * 1024;

/**
 * The RGB colour of the first frame's transparent palette index of a GIF (`[r, g, b]`), or null when
 * the frame has none or the head of the file does not say. Browsers decode that index as (0, 0, 0, 0);
 * the server (Pillow) keeps its palette colour, which is what PDQ must see.
 */
export function gifTransparentColour(bytes) {
  if (bytes.length < 13) return null;
  const packed = bytes[10];
  let offset = 13;
  let globalTable = null;
  if (packed & 0x80) {
    const size = 3 * (1 << ((packed & 7) + 1));
    globalTable = [offset, size];
    offset += size;
  }
  let transparentIndex = -1;
  while (offset < bytes.length) {
    const block = bytes[offset];
    if (block === 0x21) { // extension: a Graphic Control Extension holds the transparent index
      const label = bytes[offset + 1];
      if (label === 0xf9 && offset + 6 < bytes.length && bytes[offset + 2] === 4) {
        transparentIndex = bytes[offset + 3] & 1 ? bytes[offset + 6] : -1;
      }
      offset += 2;
      while (offset < bytes.length && bytes[offset] !== 0) offset += bytes[offset] + 1;
      offset += 1;
    } else if (block === 0x2c) { // the first image: its own colour table, if any, wins
      if (transparentIndex < 0 || offset + 10 > bytes.length) return null;
      const imagePacked = bytes[offset + 9];
      const table = imagePacked & 0x80 ? [offset + 10, 3 * (1 << ((imagePacked & 7) + 1))] : globalTable;
      if (!table || 3 * transparentIndex + 3 > table[1] || table[0] + table[1] > bytes.length) return null;
      const at = table[0] + 3 * transparentIndex;
      return [bytes[at], bytes[at + 1], bytes[at + 2]];
    } else {
      return null;
    }
  }
  return null;
}

/**
 * Decode an image Blob as the server does: EXIF orientation applied, no colour-profile conversion,
 * no premultiplied alpha, transparent pixels keeping their stored colour. `format` (from
 * `sniffFormat`) lets a JPEG skip looking for transparency and a GIF restore its transparent colour.
 * Returns `{rgba, width, height, exact, decoder}`. `decoder` is 'canvas2d', or 'webgl2' for an image
 * with transparency (a 2D canvas premultiplies alpha, which loses the colour under transparent
 * pixels); `exact` is false when those colours could not be read (no WebGL2, or a GIF whose head
 * does not give its transparent colour): such pixels do not hash as on the server.
 */
export async function decodeImage(blob, { format = null } = {}) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
      imageOrientation: 'from-image',
    });
  } catch (error) {
    throw new HashingError('this file could not be read as an image');
  }
  try {
    const { width, height } = bitmap;
    if (width * height > MAX_PIXELS) {
      throw new HashingError(`this image is ${width}×${height} pixels, more than the `
        + `${MAX_PIXELS / 1e6} million pixels DeepShield accepts`);
    }
    const context = makeCanvas(width, height).getContext('2d', { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const rgba = context.getImageData(0, 0, width, height).data;
    if (format === 'jpeg' || !hasTransparency(rgba)) return { rgba, width, height, exact: true, decoder: 'canvas2d' };
    if (format === 'gif') {
      // GIF alpha is all or nothing, and every transparent pixel is the one transparent index.
      const colour = gifTransparentColour(new Uint8Array(await blob.slice(0, GIF_HEAD_BYTES).arrayBuffer()));
      if (colour) {
        for (let offset = 0; offset < rgba.length; offset += 4) {
          if (rgba[offset + 3] === 0) {
            rgba[offset] = colour[0];
            rgba[offset + 1] = colour[1];
            rgba[offset + 2] = colour[2];
          }
        }
      }
      return { rgba, width, height, exact: colour !== null, decoder: 'canvas2d' };
    }
    const stored = unpremultipliedPixels(bitmap);
    if (stored) return { rgba: stored, width, height, exact: true, decoder: 'webgl2' };
    return { rgba, width, height, exact: false, decoder: 'canvas2d' };
  } finally {
    bitmap.close();
  }
}

/**
 * Fingerprints of one File or Blob, all computed here: `{pdq, quality, sha256, md5, width, height,
 * kind, format, decoder, note, timings}`. For an image, `pdq` (64 hex digits) and `quality` equal the
 * server's hash of the same file. For a video or any other file, and for an image this browser cannot
 * read exactly (HEIC, TIFF, or transparency without WebGL2), `pdq` and `quality` are null and `note`
 * says why in plain words (never a hash that would not match). Throws `HashingError` when an image's content cannot be decoded.
 * `onProgress(fraction)` is called from 0 to 1 as the work proceeds. `timings` says where the time
 * went: `digestMs` and `decodeMs` both count from the start (they run side by side), `pdqMs` after both.
 */
export async function hashFile(file, onProgress) {
  const started = performance.now();
  const head = new Uint8Array(await file.slice(0, 64).arrayBuffer());
  if (head.length === 0) throw new HashingError('this file is empty');
  const { kind, format } = sniffFormat(head);
  const result = { pdq: null, quality: null, sha256: null, md5: null, width: null, height: null, kind, format,
    decoder: null, note: null, timings: { digestMs: 0, decodeMs: 0, pdqMs: 0 } };
  if (kind !== 'image') {
    Object.assign(result, await digestFile(file, progressReporter(onProgress, 0, 1)));
    result.timings.digestMs = performance.now() - started;
    if (kind === 'video') {
      result.note = 'Videos get exact fingerprints here; a helpline or the command line can add '
        + 'fingerprints that also find edited copies.';
    }
    return result;
  }
  // The browser decodes on its own threads: digest the bytes meanwhile.
  const decoding = decodeImage(file, { format }).then(
    (decoded) => ({ decoded, decodedAt: performance.now() }),
    (error) => ({ error }),
  );
  Object.assign(result, await digestFile(file, progressReporter(onProgress, 0, 0.25)));
  const digested = performance.now();
  result.timings.digestMs = digested - started;
  const { decoded, decodedAt, error } = await decoding;
  if (error) {
    if (format === 'heif' || format === 'tiff') {
      result.note = `This browser cannot open ${format === 'heif' ? 'HEIC' : 'TIFF'} photos, so only `
        + 'exact fingerprints were made. Saving the photo as JPEG first adds a fingerprint that also '
        + 'finds edited copies.';
      return result;
    }
    throw error;
  }
  const hashingStarted = performance.now();
  result.timings.decodeMs = decodedAt - started;
  result.width = decoded.width;
  result.height = decoded.height;
  result.decoder = decoded.decoder;
  if (!decoded.exact) {
    result.note = 'This browser cannot read the colours under the transparent parts of this image, '
      + 'so only exact fingerprints were made. A helpline or the command line can add one that also '
      + 'finds edited copies.';
    return result;
  }
  const report = progressReporter(onProgress, 0.35, 1);
  report(0);
  const { hash, quality } = pdqHash(decoded.rgba, decoded.width, decoded.height, report);
  report(1);
  result.pdq = hash;
  result.quality = quality;
  result.timings.pdqMs = performance.now() - hashingStarted;
  return result;
}
