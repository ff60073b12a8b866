// The helpline's "file a request for someone" page: fingerprints the chosen files in this browser
// (the victim portal's file_hasher.js: a Worker running the bit-exact PDQ, SHA-256 and MD5, with a
// thumbnail of each local file) and puts the fingerprints in the form as hidden `hash` fields,
// "type value [quality]" each, as the server reads them (deepshield.web.routes.helpline.Filing).
//
// The file input has no name and sits outside the form, so no file is ever part of what is sent:
// only the hashes are. The form is an ordinary POST; without JavaScript it still files a request
// named by locations or by hashes pasted from the command line.
//
// The form is held back while files are being fingerprinted, or when this browser failed the
// hasher's self-test (its fingerprints could be wrong), with the reason said in plain words.
import { createFileHasher, hashesForRequest } from '/static/js/portal/file_hasher.js';

const form = document.getElementById('filing-form');
const input = document.getElementById('files');
const list = document.getElementById('file-list');
const hasherStatus = document.getElementById('hasher-status');
const holder = document.getElementById('browser-hashes');
const submitStatus = document.getElementById('submit-status');

function hashLine(hash) {
  return hash.quality === undefined || hash.quality === null
    ? `${hash.type} ${hash.value}` : `${hash.type} ${hash.value} ${hash.quality}`;
}

function syncHiddenHashes(hasher) {
  // Only the fields this script made are replaced; those the server kept from an earlier try stay.
  for (const old of holder.querySelectorAll('input[data-from-browser]')) old.remove();
  for (const hash of hashesForRequest(hasher.results())) {
    const field = document.createElement('input');
    field.type = 'hidden';
    field.name = 'hash';
    field.value = hashLine(hash);
    field.dataset.fromBrowser = '';
    holder.append(field);
  }
  if (submitStatus.textContent && hasher.readiness().ok) submitStatus.textContent = '';
}

if (form && input && list && holder) {
  const hasher = createFileHasher({ input, list, status: hasherStatus, onChange: syncHiddenHashes });
  form.addEventListener('submit', (event) => {
    if (hasher.counts().files === 0) return; // nothing chosen: locations or pasted hashes only
    const { ok, message } = hasher.readiness();
    if (ok) {
      syncHiddenHashes(hasher);
      return;
    }
    event.preventDefault();
    submitStatus.textContent = `The request was not sent yet. ${message}`;
    submitStatus.classList.add('field-error');
    submitStatus.setAttribute('tabindex', '-1');
    submitStatus.focus();
  });
}
