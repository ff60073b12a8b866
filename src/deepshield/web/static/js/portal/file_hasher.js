/**
 * Fingerprinting the files a person selects, on her own device, with a preview of each.
 *
 * Used by the victim's request page and the helpline's "file on behalf" page:
 *
 *   import { createFileHasher, hashesForRequest } from '/static/js/portal/file_hasher.js';
 *   const hasher = createFileHasher({ input, list, status, onChange });
 *
 * - `input`: an `<input type="file" multiple>`. Each selection is ADDED to the list (the input is
 *   then emptied), and each file can be removed again with its own button.
 * - `list`: a `<ul>`; one `<li class="file-item">` per file: a thumbnail made from the local file
 *   (`URL.createObjectURL`: an `<img>` for a picture, a muted `<video>` for a video), its name, a
 *   `<progress>` fed by the Worker, then its fingerprints (or why it could not be read).
 * - `status` (optional): an element (`role="status"`) for short, plain-words news: the browser's
 *   self-test, "fingerprints ready for 3 files".
 * - `onChange(hasher)` (optional): called with the hasher whenever a file is added, progresses, finishes
 *   or is removed, and once while it is being created (so use its argument, not the variable being
 *   assigned the result of `createFileHasher`).
 * - `workerUrl` (optional): the hashing Worker, `/static/hashing/worker.js` by default.
 *
 * What a caller may rely on:
 * - `hasher.results()` → `[{name, kind, pdq, quality, sha256, md5, note}]` for every file hashed
 *   without error, in the order shown (`kind` is 'image' or 'video'; `pdq` and `quality` are null for
 *   a video, and for a picture this browser could not read exactly: `note` then says why).
 * - `hasher.allDone()` → true when no file is waiting or being hashed.
 * - `hasher.counts()` → `{files, pending, failed, done}`.
 * - `hasher.selfTest()` → null until the Worker has answered, then true or false.
 * - `hasher.readiness()` → `{ok, message}`: whether the fingerprints may be sent now; when not, `message`
 *   says why in plain words (the self-test failed or has not answered, files are still being read).
 *   A page must not send anything while `ok` is false.
 * - `hasher.clear()` removes every file; `hasher.destroy()` also stops the Worker.
 * - `hashesForRequest(results)` → the `hashes` list `POST /v1/requests/public` takes, and
 *   `hashOwners(results)` the file name of each of its entries (same order), to say which file an
 *   answer about `hashes[i]` is about.
 *
 * Nothing here sends anything anywhere: the files go to the Worker (same origin, same device) and
 * the thumbnails are blob: URLs of this page, revoked when a file is removed.
 */

const DEFAULT_WORKER_URL = '/static/hashing/worker.js';

const MESSAGES = {
  checking: 'Checking that this browser makes fingerprints correctly…',
  ready: 'This browser makes fingerprints correctly. Nothing is sent until you press the button at the end.',
  selfTestFailed: 'This browser failed its fingerprint check, so the fingerprints it makes could be wrong, and '
    + 'nothing can be sent from this page. Nothing has been sent. Please try another up-to-date browser, or '
    + 'ask a helpline to file the request with you.',
  noWorker: 'Fingerprinting could not start in this browser, so nothing can be sent from this page. Nothing '
    + 'has been sent. Please try another up-to-date browser, or ask a helpline to file the request with you.',
  stillWorking: 'Please wait until every file has its fingerprints.',
  notAFile: 'This is not a picture or a video this page can read, so it has no fingerprints. You can remove it.',
  unreadable: 'This file could not be read.',
};

let nextId = 1;

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  return `${(bytes / (1024 * 1024 * 1024)).toFixed(2)} GB`;
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

/** The Worker's messages are written to follow a colon; here each stands alone. */
function asSentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return MESSAGES.unreadable;
  const capitalised = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

function looksLikeVideo(file) {
  return typeof file.type === 'string' && file.type.startsWith('video/');
}

/** The `hashes` list of a request: PDQ (with quality) where there is one, then SHA-256 and MD5. */
export function hashesForRequest(results) {
  const hashes = [];
  for (const result of results) {
    if (result.pdq) hashes.push({ type: 'pdq', value: result.pdq, quality: result.quality });
    if (result.sha256) hashes.push({ type: 'sha256', value: result.sha256 });
    if (result.md5) hashes.push({ type: 'md5', value: result.md5 });
  }
  return hashes;
}

/** The file name behind each entry of `hashesForRequest(results)`, in the same order. */
export function hashOwners(results) {
  const owners = [];
  for (const result of results) {
    for (const value of [result.pdq, result.sha256, result.md5]) if (value) owners.push(result.name);
  }
  return owners;
}

export function createFileHasher({ input, list, status = null, onChange = null,
  workerUrl = DEFAULT_WORKER_URL } = {}) {
  /** @type {Map<number, object>} id → entry, in the order added. */
  const entries = new Map();
  const queue = [];
  let busyId = null;
  let selfTestPassed = null;
  let workerBroken = false;
  let worker = null;

  function changed() {
    updateStatus();
    if (typeof onChange === 'function') onChange(api);
  }

  function say(text, urgent = false) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('field-error', urgent);
  }

  function updateStatus() {
    if (workerBroken) return say(MESSAGES.noWorker, true);
    if (selfTestPassed === false) return say(MESSAGES.selfTestFailed, true);
    if (selfTestPassed === null) return say(MESSAGES.checking);
    const { files, pending, failed, done } = api.counts();
    if (files === 0) return say(MESSAGES.ready);
    if (pending > 0) return say(`Making fingerprints: ${done} of ${files} ready.`);
    const failedText = failed ? ` ${failed} could not be read.` : '';
    return say(`Fingerprints ready for ${done} file${done === 1 ? '' : 's'}.${failedText}`);
  }

  function startWorker() {
    if (typeof Worker === 'undefined') {
      workerBroken = true;
      return;
    }
    try {
      worker = new Worker(workerUrl, { type: 'module' });
    } catch (error) {
      workerBroken = true;
      return;
    }
    worker.addEventListener('message', (event) => onWorkerMessage(event.data || {}));
    worker.addEventListener('error', (event) => {
      if (event && typeof event.preventDefault === 'function') event.preventDefault();
      workerBroken = true;
      for (const entry of entries.values()) {
        if (entry.state === 'waiting' || entry.state === 'hashing') fail(entry, MESSAGES.noWorker);
      }
      queue.length = 0;
      busyId = null;
      changed();
    });
  }

  function onWorkerMessage(message) {
    if ('selfTest' in message && !('id' in message)) {
      selfTestPassed = message.selfTest === true;
      changed();
      return;
    }
    const entry = entries.get(message.id);
    if (message.id === busyId && ('result' in message || 'error' in message)) {
      busyId = null;
      pump();
    }
    if (!entry) return; // removed while it was being hashed
    if ('progress' in message) {
      entry.progress.value = Math.round(Math.max(0, Math.min(1, Number(message.progress) || 0)) * 100);
      entry.progress.textContent = `${entry.progress.value}%`;
      if (entry.state !== 'hashing') {
        entry.state = 'hashing';
        entry.stateText.textContent = 'Making fingerprints…';
      }
      if (typeof onChange === 'function') onChange(api);
    } else if ('result' in message) {
      succeed(entry, message.result || {});
      changed();
    } else if ('error' in message) {
      const text = typeof message.error === 'string' ? message.error
        : (message.error && message.error.message) || MESSAGES.unreadable;
      fail(entry, text);
      changed();
    }
  }

  function pump() {
    if (busyId !== null || !worker || workerBroken) return;
    while (queue.length) {
      const id = queue.shift();
      const entry = entries.get(id);
      if (!entry || entry.state !== 'waiting') continue;
      busyId = id;
      entry.state = 'hashing';
      entry.stateText.textContent = 'Making fingerprints…';
      worker.postMessage({ id, file: entry.file });
      return;
    }
  }

  function addFact(facts, term, value) {
    facts.append(element('dt', '', term));
    const detail = element('dd', 'mono', value);
    facts.append(detail);
  }

  function succeed(entry, result) {
    const kind = result.kind === 'image' || result.kind === 'video' ? result.kind : null;
    entry.progress.value = 100;
    entry.progress.hidden = true;
    if (!kind) {
      fail(entry, MESSAGES.notAFile);
      return;
    }
    entry.state = 'done';
    entry.result = {
      name: entry.file.name,
      kind,
      pdq: result.pdq || null,
      quality: Number.isInteger(result.quality) ? result.quality : null,
      sha256: result.sha256 || null,
      md5: result.md5 || null,
      note: result.note || null,
    };
    entry.item.dataset.state = 'done';
    entry.item.dataset.kind = kind;
    entry.stateText.textContent = 'Fingerprints made on this device:';
    const facts = element('dl', 'facts hashes');
    if (entry.result.pdq) {
      addFact(facts, 'PDQ', entry.result.pdq);
      addFact(facts, 'Quality', String(entry.result.quality));
    }
    addFact(facts, 'SHA-256', entry.result.sha256 || '');
    addFact(facts, 'MD5', entry.result.md5 || '');
    entry.body.insertBefore(facts, entry.removeButton);
    if (entry.result.note) entry.body.insertBefore(element('p', 'hint file-note', entry.result.note), entry.removeButton);
  }

  function fail(entry, text) {
    entry.state = 'failed';
    entry.result = null;
    entry.item.dataset.state = 'failed';
    entry.progress.hidden = true;
    entry.stateText.textContent = `${asSentence(text)} Its fingerprints will not be sent.`;
    entry.stateText.classList.add('field-error');
  }

  function remove(id) {
    const entry = entries.get(id);
    if (!entry) return;
    entries.delete(id);
    const index = queue.indexOf(id);
    if (index >= 0) queue.splice(index, 1);
    URL.revokeObjectURL(entry.previewUrl);
    // Keep keyboard focus in the list, not lost on the removed button.
    const next = entry.item.nextElementSibling || entry.item.previousElementSibling;
    entry.item.remove();
    const focusTarget = next ? next.querySelector('.file-remove') : input;
    if (focusTarget) focusTarget.focus();
    changed();
  }

  function add(file) {
    const id = nextId++;
    const item = element('li', 'file-item');
    item.dataset.state = 'waiting';
    const previewUrl = URL.createObjectURL(file);
    let preview;
    if (looksLikeVideo(file)) {
      preview = element('video', 'file-preview');
      preview.muted = true;
      preview.preload = 'metadata';
      preview.setAttribute('playsinline', '');
      preview.setAttribute('aria-hidden', 'true');
    } else {
      preview = element('img', 'file-preview');
      preview.alt = '';
    }
    preview.src = previewUrl;
    const body = element('div', 'file-body');
    const name = element('p', 'file-name');
    name.append(element('strong', '', file.name || 'Unnamed file'), ` (${formatSize(file.size)})`);
    const progress = element('progress', '');
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute('aria-label', `Fingerprinting ${file.name || 'this file'}`);
    const stateText = element('p', 'file-state', 'Waiting…');
    const removeButton = element('button', 'button-secondary file-remove');
    removeButton.type = 'button';
    removeButton.append('Remove', element('span', 'visually-hidden', ` ${file.name || 'this file'}`));
    removeButton.addEventListener('click', () => remove(id));
    body.append(name, progress, stateText, removeButton);
    item.append(preview, body);
    list.append(item);
    entries.set(id, { id, file, item, body, progress, stateText, removeButton, previewUrl, state: 'waiting',
      result: null });
    if (workerBroken) fail(entries.get(id), MESSAGES.noWorker);
    else queue.push(id);
  }

  const api = {
    results() {
      return [...entries.values()].filter((entry) => entry.state === 'done').map((entry) => ({ ...entry.result }));
    },
    allDone() {
      return [...entries.values()].every((entry) => entry.state === 'done' || entry.state === 'failed');
    },
    counts() {
      const all = [...entries.values()];
      return {
        files: all.length,
        pending: all.filter((entry) => entry.state === 'waiting' || entry.state === 'hashing').length,
        failed: all.filter((entry) => entry.state === 'failed').length,
        done: all.filter((entry) => entry.state === 'done').length,
      };
    },
    selfTest() {
      return workerBroken ? false : selfTestPassed;
    },
    readiness() {
      if (workerBroken) return { ok: false, message: MESSAGES.noWorker };
      if (selfTestPassed === false) return { ok: false, message: MESSAGES.selfTestFailed };
      if (selfTestPassed === null) return { ok: false, message: MESSAGES.checking };
      if (!api.allDone()) return { ok: false, message: MESSAGES.stillWorking };
      return { ok: true, message: '' };
    },
    clear() {
      for (const id of [...entries.keys()]) remove(id);
    },
    destroy() {
      api.clear();
      if (worker) worker.terminate();
      worker = null;
    },
  };

  input.addEventListener('change', () => {
    for (const file of input.files) add(file);
    // The list, not the input, is the selection: emptying the input lets the same file be chosen
    // again after it was removed, and keeps no second reference to the files.
    input.value = '';
    changed();
    pump();
  });

  startWorker();
  changed();
  return api;
}
