// Forms that leave no step in the browser's history, so that after the quick exit, Back does not
// return to a portal page (a browser's own form post always adds one, even with a redirect).
//
// A form opts in with `data-replace`. Its submission is sent with fetch (multipart when the form's
// enctype says so: "Is this labelled?" sends its file this way), with the header
// `X-Portal-Navigation: replace`, and then:
// - a route that would redirect answers 204 with `X-Portal-Location`: the page goes there with
//   location.replace (cookies the answer set are already in place);
// - a redirect the server made anyway (a session that ended: back to sign-in) is followed the same way;
// - any other answer (the same page with a message, or an error page) replaces this page's <main> and
//   title in place, and the focus moves to its message, as a page load would read it.
// A button with its own `formaction` (a download, such as the evidence pack) is left to the browser:
// a download adds no step to history. Without JavaScript, or if the request cannot be sent, the form
// is posted the ordinary way.

const HEADER = 'X-Portal-Navigation';
const LOCATION_HEADER = 'X-Portal-Location';

function sameOrigin(url) {
  return new URL(url, window.location.href).origin === window.location.origin;
}

function showInPlace(html) {
  const incoming = new DOMParser().parseFromString(html, 'text/html');
  const newMain = incoming.querySelector('main');
  const main = document.querySelector('main');
  if (!newMain || !main) return false;
  main.replaceChildren(...[...newMain.childNodes].map((node) => document.importNode(node, true)));
  if (incoming.title) document.title = incoming.title;
  const message = main.querySelector('[role="alert"], .error-summary, .error-detail, h1');
  const target = message || main;
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus();
  return true;
}

async function submitReplacing(form, submitter) {
  const fields = new FormData(form, submitter);
  const body = form.enctype === 'multipart/form-data' ? fields : new URLSearchParams(fields);
  const buttons = [...form.querySelectorAll('button, input[type="submit"]')];
  for (const button of buttons) button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: 'POST',
      body,
      headers: { [HEADER]: 'replace' },
      credentials: 'same-origin',
      cache: 'no-store',
    });
    const location = response.headers.get(LOCATION_HEADER);
    if (location && sameOrigin(location)) {
      window.location.replace(location);
      return;
    }
    if (response.redirected && sameOrigin(response.url)) {
      window.location.replace(response.url);
      return;
    }
    if (!showInPlace(await response.text())) window.location.replace(window.location.href);
  } catch (error) {
    // Offline or refused: the ordinary post still works (it just adds a step to history).
    HTMLFormElement.prototype.submit.call(form);
  } finally {
    for (const button of buttons) if (button.isConnected) button.disabled = false;
  }
}

document.addEventListener('submit', (event) => {
  const form = event.target;
  if (event.defaultPrevented) return; // another script refused it (a file over the limit, say)
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-replace')) return;
  if (event.submitter && event.submitter.hasAttribute('formaction')) return;
  if (form.method.toLowerCase() !== 'post' || !sameOrigin(form.action)) return;
  event.preventDefault();
  submitReplacing(form, event.submitter || null);
});
