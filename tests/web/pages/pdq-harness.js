// Test-only page script for tests/web/test_pdq_js_browser.py and bench/browser_hashing.py: it loads
// the real /static/hashing/pdq.js and worker.js under the portal's CSP and exposes a few helpers
// on window.pdqHarness for page.evaluate. It is a file (not inline) because the CSP blocks inline script.
import { hashFile, pdqHash, selfTest } from '/static/hashing/pdq.js';
import { readCases } from './pdq-cases.js';

/** Hash every case of a pdq_cases.py binary file with pdqHash on this thread: [[hash, quality], ...]. */
async function hashArrays(url) {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const results = [];
  for (const { width, height, rgba } of readCases(bytes)) {
    const { hash, quality } = pdqHash(rgba, width, height);
    results.push([hash, quality]);
  }
  return results;
}

let worker = null;
let workerSelfTest = null;
let nextId = 1;
const pending = new Map();

function startWorker() {
  if (worker) return workerSelfTest;
  worker = new Worker('/static/hashing/worker.js', { type: 'module' });
  workerSelfTest = new Promise((resolve, reject) => {
    worker.addEventListener('error', (event) => reject(new Error(`worker failed: ${event.message}`)));
    worker.addEventListener('message', (event) => {
      const message = event.data;
      if ('selfTest' in message) {
        resolve(message.selfTest);
        return;
      }
      const job = pending.get(message.id);
      if (!job) return;
      if ('progress' in message) {
        job.progress.push(message.progress);
      } else {
        pending.delete(message.id);
        job.resolve({ ...message, progress: job.progress, ms: performance.now() - job.started });
      }
    });
  });
  return workerSelfTest;
}

/** Hash a Blob in the Worker, as the portal does: {id, result | error, progress: [...], ms}. */
function hashInWorker(blob) {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, { resolve, progress: [], started: performance.now() });
    worker.postMessage({ id, file: blob });
  });
}

/** Fetch each URL as a File and hash it in the Worker: {name: outcome}. */
async function hashUrlsInWorker(urls) {
  const selfTestPassed = await startWorker();
  const outcomes = {};
  for (const url of urls) {
    const blob = await (await fetch(url)).blob();
    const name = url.split('/').pop();
    outcomes[name] = await hashInWorker(new File([blob], name));
  }
  return { selfTest: selfTestPassed, outcomes };
}

/** The same on this (the main) thread, with hashFile called directly: {name: result}. */
async function hashUrlsOnPage(urls) {
  const results = {};
  for (const url of urls) {
    const blob = await (await fetch(url)).blob();
    const name = url.split('/').pop();
    results[name] = await hashFile(new File([blob], name));
  }
  return results;
}

/**
 * Watch this (the main) thread while `work()` runs: gaps between animation frames (longest and
 * 95th percentile) and long tasks (PerformanceObserver 'longtask', over 50 ms), and `work`'s result.
 */
async function watchFrames(work) {
  const longTasks = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longTasks.push(entry.duration);
  });
  try {
    observer.observe({ type: 'longtask', buffered: false });
  } catch (error) {
    // no long-task timing in this browser: the frame gaps still tell
  }
  const gaps = [];
  let running = true;
  let last = null;
  const tick = (now) => {
    if (last !== null) gaps.push(now - last);
    last = now;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const result = await work();
  running = false;
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  gaps.sort((a, b) => a - b);
  return {
    result,
    frames: gaps.length,
    longestFrameGap: gaps.length ? gaps[gaps.length - 1] : 0,
    p95FrameGap: gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.95))] : 0,
    longestTask: longTasks.length ? Math.max(...longTasks) : 0,
  };
}

/** Frames while `url` is hashed in the Worker, and (for comparison) while nothing runs as long. */
async function hashWhileMeasuring(url) {
  await startWorker();
  const blob = await (await fetch(url)).blob();
  const file = new File([blob], url.split('/').pop());
  const hashing = await watchFrames(() => hashInWorker(file));
  const idle = await watchFrames(() => new Promise((resolve) => setTimeout(resolve, hashing.result.ms)));
  return { outcome: hashing.result, hashing, idle };
}

window.pdqHarness = { hashArrays, hashUrlsInWorker, hashUrlsOnPage, hashWhileMeasuring, selfTest };
document.getElementById('status').textContent = 'ready';
