/**
 * A module Web Worker that fingerprints files with pdq.js, off the page's main thread, so the page
 * stays responsive while a large photo is hashed.
 *
 * Start it with `new Worker('/static/hashing/worker.js', {type: 'module'})`. Messages:
 * - out, once at start: `{selfTest: true|false}`. When false, every request is answered with an
 *   error and the page must not submit hashes.
 * - in: `{id, file}` (a File or Blob); out: `{id, progress}` (0–1, at most about a hundred of them),
 *   then exactly one of `{id, result}` (what `hashFile` gives) or `{id, error}` (a sentence written
 *   for the person using the page). Requests are handled one at a time, in the order they came.
 */
import { HashingError, hashFile, selfTest } from './pdq.js';

const selfTestPassed = selfTest();
self.postMessage({ selfTest: selfTestPassed });

const SELF_TEST_FAILED = 'this browser did not compute fingerprints correctly in a check, so none '
  + 'were made; please try another browser, or ask a helpline to help';
const UNEXPECTED = 'something went wrong while making the fingerprints of this file; please try again';

function plainMessage(error) {
  if (error instanceof HashingError) return error.message;
  if (error && error.name === 'NotReadableError') {
    return 'this file could not be read; it may have been moved or changed since it was chosen';
  }
  if (error instanceof RangeError || (error && error.name === 'QuotaExceededError')) {
    return 'this image is too large for this browser to fingerprint';
  }
  return UNEXPECTED;
}

async function handle(id, file) {
  if (!selfTestPassed) {
    self.postMessage({ id, error: SELF_TEST_FAILED });
    return;
  }
  if (!(file instanceof Blob)) {
    self.postMessage({ id, error: 'no file was given to fingerprint' });
    return;
  }
  let reported = -1;
  const onProgress = (fraction) => {
    const percent = Math.floor(fraction * 100);
    if (percent > reported) {
      reported = percent;
      self.postMessage({ id, progress: percent / 100 });
    }
  };
  try {
    const result = await hashFile(file, onProgress);
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, error: plainMessage(error) });
  }
}

// One file at a time: a second 12 MP image decoded alongside the first would double the memory.
let queue = Promise.resolve();
self.addEventListener('message', (event) => {
  const { id, file } = event.data || {};
  queue = queue.then(() => handle(id, file));
});
