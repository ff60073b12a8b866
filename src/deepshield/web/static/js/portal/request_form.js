// "Stop my images spreading": the request page's script.
//
// The files are fingerprinted in this browser (file_hasher.js); the request is sent as JSON to the
// API's POST /v1/requests/public with the fingerprints only, never a file's bytes. The API decides
// what is complete, missing or wrong, and this page shows its own sentences beside the section each
// one is about. An incomplete request is kept by the API (with a case number and PIN, shown once);
// the same form then completes it through PATCH /v1/cases/{case_number} with that number and PIN.

import { createFileHasher, hashesForRequest, hashOwners } from './file_hasher.js';

const form = document.getElementById('request-form');
const fileInput = document.getElementById('files');
const fileList = document.getElementById('file-list');
const hasherStatus = document.getElementById('hasher-status');
const submitButton = document.getElementById('submit-request');
const submitStatus = document.getElementById('submit-status');
const errorSummary = document.getElementById('error-summary');
const errorSummaryLead = document.getElementById('error-summary-lead');
const errorSummaryList = document.getElementById('error-summary-list');
const result = document.getElementById('result');

// Which section of the page each field of the API's form belongs to (the first part of the
// field path its sentences start with, e.g. "contact.email: ...").
const SECTION_OF_FIELD = {
  hashes: 'files',
  locations: 'locations',
  requester_role: 'you',
  contact: 'you',
  jurisdiction: 'jurisdiction',
  age_check: 'age',
  safety_check: 'safety',
  signature: 'declarations',
  good_faith: 'declarations',
};
const SECTIONS = ['files', 'locations', 'you', 'jurisdiction', 'age', 'safety', 'declarations'];
const SECTION_TITLES = {
  files: 'Your pictures and videos',
  locations: 'Where they appear',
  you: 'About you',
  jurisdiction: 'Countries',
  age: 'Age',
  safety: 'Your safety',
  declarations: 'Declarations',
};
// "hashes[2].value: ..." (the intake) or "hashes.2.value: ..." (the API's schema check).
const FIELD_PATH = /^([a-z_]+)((?:\[\d+\]|\.[a-z_0-9]+)*): /;
const FIRST_INDEX = /^(?:\[(\d+)\]|\.(\d+))/;

// One key for this page's filing: a retry of the same form (a lost answer) finds the case filed
// the first time instead of filing it twice.
const idempotencyKey = crypto.randomUUID();
/** The case filed from this page, once there is one: {caseNumber, pin}. */
let filed = null;

form.hidden = false;

const hasher = createFileHasher({
  input: fileInput,
  list: fileList,
  status: hasherStatus,
  onChange: (current) => {
    const videoChosen = current.results().some((item) => item.kind === 'video')
      || [...fileList.querySelectorAll('video')].length > 0;
    document.getElementById('video-note').hidden = !videoChosen;
  },
});

// Country names in her language, from the browser (the server sends the ISO codes).
(function nameCountries() {
  const select = document.getElementById('country');
  if (typeof Intl === 'undefined' || typeof Intl.DisplayNames !== 'function') return;
  let names;
  try {
    names = new Intl.DisplayNames([document.documentElement.lang || 'en'], { type: 'region' });
  } catch (error) {
    return;
  }
  const options = [...select.options].filter((option) => option.value);
  for (const option of options) {
    const name = names.of(option.value);
    if (name && name !== option.value) option.textContent = name;
  }
  options.sort((a, b) => a.textContent.localeCompare(b.textContent));
  for (const option of options) select.append(option);
}());

function radioValue(name) {
  const checked = form.querySelector(`input[name="${name}"]:checked`);
  return checked ? checked.value : null;
}

function showWhenChecked(name, value, noticeId) {
  const notice = document.getElementById(noticeId);
  for (const radio of form.querySelectorAll(`input[name="${name}"]`)) {
    radio.addEventListener('change', () => { notice.hidden = radioValue(name) !== value; });
  }
}
showWhenChecked('depicted_under_18', 'yes', 'under18-notice');
showWhenChecked('in_immediate_danger', 'yes', 'danger-notice');

/** The request as the API's form takes it, from what the page holds now. */
function requestBody() {
  const body = {};
  const role = radioValue('requester_role');
  if (role) body.requester_role = role;
  const name = document.getElementById('signature-name').value.trim();
  body.signature = { statement_ticked: document.getElementById('statement').checked };
  if (name) body.signature.name = name;
  const addresses = document.getElementById('locations').value.split('\n').map((line) => line.trim())
    .filter((line) => line);
  if (addresses.length) body.locations = addresses.map((url) => ({ url }));
  const hashes = hashesForRequest(hasher.results());
  if (hashes.length) body.hashes = hashes;
  body.good_faith = document.getElementById('good-faith').checked;
  const email = document.getElementById('email').value.trim();
  if (email) body.contact = { email };
  const jurisdiction = {};
  const country = document.getElementById('country').value;
  if (country) jurisdiction.depicted_person_country = country;
  const platforms = [...form.querySelectorAll('input[name="platform_countries"]:checked')].map((box) => box.value);
  if (platforms.length) jurisdiction.platform_countries = platforms;
  if (Object.keys(jurisdiction).length) body.jurisdiction = jurisdiction;
  const under18 = radioValue('depicted_under_18');
  if (under18) body.age_check = { depicted_under_18: under18 === 'yes' };
  const danger = radioValue('in_immediate_danger');
  if (danger) body.safety_check = { in_immediate_danger: danger === 'yes' };
  return body;
}

function clearErrors() {
  errorSummary.hidden = true;
  errorSummaryList.replaceChildren();
  for (const section of SECTIONS) {
    const slot = document.getElementById(`error-${section}`);
    slot.replaceChildren();
    slot.hidden = true;
  }
}

/**
 * Show the API's sentences: each beside its section (and listed in the summary at the top).
 * `problems` is a list of {field, sentence}; a sentence about no known field goes to the summary only.
 */
function showErrors(lead, problems, { focus = true } = {}) {
  errorSummaryLead.textContent = lead;
  for (const { section, sentence } of problems) {
    const item = document.createElement('li');
    if (section) {
      const slot = document.getElementById(`error-${section}`);
      const line = document.createElement('span');
      line.className = 'api-sentence';
      line.textContent = sentence;
      slot.append(line);
      slot.hidden = false;
      const link = document.createElement('a');
      link.href = `#sec-${section}`;
      link.textContent = `${SECTION_TITLES[section]}: ${sentence}`;
      item.append(link);
    } else {
      item.textContent = sentence;
    }
    errorSummaryList.append(item);
  }
  errorSummary.hidden = false;
  if (focus) errorSummary.focus();
}

/** One of the API's sentences ("field.path: sentence"), split into its section and its words. */
function placeSentence(text, owners) {
  const found = FIELD_PATH.exec(text);
  if (!found) return { section: null, sentence: text };
  const section = SECTION_OF_FIELD[found[1]] || null;
  let sentence = text.slice(found[0].length);
  const index = FIRST_INDEX.exec(found[2]);
  const owner = index ? owners[Number(index[1] || index[2])] : undefined;
  if (found[1] === 'hashes' && owner) sentence = `${sentence} (the fingerprint of ${owner})`;
  return { section, sentence };
}

function caseSummary(state) {
  const template = document.querySelector(`template[data-summary="${state}"]`);
  return template ? template.content.textContent.trim() : 'Your request was received.';
}

function formatWhen(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' });
}

function secretText() {
  return [
    'DeepShield: your case',
    `Case number: ${filed.caseNumber}`,
    `PIN: ${filed.pin}`,
    `Check your case at: ${window.location.origin}/case`,
    '',
    'Keep this private: with the case number and PIN anyone can see your case and withdraw it.',
    '',
  ].join('\n');
}

let downloadUrl = null;

function showResult(caseView, pin) {
  document.getElementById('result-case-number').textContent = caseView.case_number;
  const hasPin = typeof pin === 'string' && pin.length > 0;
  document.getElementById('result-pin').textContent = hasPin ? pin : '';
  document.getElementById('result-pin').closest('dd').previousElementSibling.hidden = !hasPin;
  document.getElementById('result-pin').closest('dd').hidden = !hasPin;
  document.getElementById('result-no-pin').hidden = hasPin;
  document.getElementById('result-save').hidden = !hasPin;
  if (hasPin) {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([secretText()], { type: 'text/plain' }));
    document.getElementById('download-secret').href = downloadUrl;
  }
  updateResult(caseView);
  result.hidden = false;
  result.focus();
}

function updateResult(caseView) {
  document.getElementById('result-summary').textContent = caseSummary(caseView.state);
  const due = document.getElementById('result-due');
  due.hidden = !caseView.due_at;
  due.textContent = caseView.due_at ? `Action is due by ${formatWhen(caseView.due_at)}.` : '';
  const referral = document.getElementById('result-referral');
  referral.hidden = !caseView.referral;
  referral.textContent = caseView.referral || '';
  const safety = document.getElementById('result-safety');
  safety.hidden = !caseView.safety_advice;
  safety.textContent = caseView.safety_advice || '';
}

document.getElementById('copy-secret').addEventListener('click', async () => {
  const copyStatus = document.getElementById('copy-status');
  if (!filed || !filed.pin) return;
  try {
    await navigator.clipboard.writeText(`Case number: ${filed.caseNumber}\nPIN: ${filed.pin}`);
    copyStatus.textContent = 'Copied. Paste them somewhere only you can see.';
  } catch (error) {
    copyStatus.textContent = 'Copying did not work in this browser: please write them down, or download them.';
  }
});

function afterFiling(caseView, { justFiled }) {
  if (caseView.state === 'incomplete' && Array.isArray(caseView.missing) && caseView.missing.length) {
    const owners = hashOwners(hasher.results());
    // Just filed, the case number and PIN keep the focus: they are what she must not miss.
    showErrors('Your request is saved, but it is not complete yet. Add what is missing below, then press '
      + '"Add the missing details". The deadline for action starts once it is complete.',
    caseView.missing.map((sentence) => placeSentence(sentence, owners)), { focus: !justFiled });
    submitButton.textContent = 'Add the missing details';
    return;
  }
  // Complete, or referred: there is nothing left to send from this form.
  form.hidden = true;
  hasher.destroy();
  result.focus();
}

function authorization() {
  const bytes = new TextEncoder().encode(`${filed.caseNumber}:${filed.pin}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

async function send() {
  const body = requestBody();
  const owners = hashOwners(hasher.results());
  const completing = filed !== null && filed.pin;
  const url = completing ? `${form.dataset.caseEndpoint}${encodeURIComponent(filed.caseNumber)}`
    : form.dataset.endpoint;
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (completing) headers.Authorization = authorization();
  else headers['Idempotency-Key'] = idempotencyKey;
  let response;
  try {
    response = await fetch(url, {
      method: completing ? 'PATCH' : 'POST',
      headers,
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
    });
  } catch (error) {
    showErrors('Your request could not be sent: this device seems to be offline, or the service did not '
      + 'answer. Nothing was lost here: check your connection and press the button again.', []);
    return;
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = null;
  }
  if (response.ok && answer) {
    if (completing) {
      updateResult(answer);
      afterFiling(answer, { justFiled: false });
    } else {
      filed = { caseNumber: answer.case.case_number, pin: answer.pin };
      showResult(answer.case, answer.pin);
      afterFiling(answer.case, { justFiled: true });
    }
    return;
  }
  const detail = answer && typeof answer.detail === 'string' ? answer.detail
    : `The service answered with an error (${response.status}). Please try again in a moment.`;
  // The schema check (422) joins several sentences with "; "; the intake's (400) is one sentence.
  const sentences = response.status === 422 ? detail.split('; ').filter((part) => part) : [detail];
  showErrors(response.status === 429 ? 'Too many tries for now.'
    : 'Nothing was filed yet. Please change what is described below and send it again.',
  sentences.map((sentence) => placeSentence(sentence, owners)));
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (submitButton.disabled) return;
  clearErrors();
  const readiness = hasher.readiness();
  if (!readiness.ok) {
    showErrors('Nothing has been sent.', [{ section: 'files', sentence: readiness.message }]);
    return;
  }
  submitButton.disabled = true;
  submitStatus.textContent = 'Sending your request (fingerprints only)…';
  try {
    await send();
  } finally {
    submitButton.disabled = false;
    submitStatus.textContent = '';
  }
});
