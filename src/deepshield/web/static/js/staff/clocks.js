// Live countdowns on the staff pages (review queue, case pages, helpline list).
//
// The server renders every deadline (UTC) and the time left at the moment the page was made, so
// the page reads right without JavaScript. This script only keeps the "time left" text current:
// each element with data-countdown="<ISO 8601 UTC>" gets "in 5 h 12 min", "in 2 d 3 h",
// "in less than a minute" or "overdue by 40 min", worded exactly as the server words it
// (deepshield.web.routes.reviewer.relative_text). It is refreshed every 15 seconds, which keeps the
// minute right without making screen readers chatter (the text is not a live region).

const REFRESH_MS = 15 * 1000;

/** The server's wording of the time between now and a deadline `remainingMs` away. */
export function relativeText(remainingMs) {
  const minutes = Math.floor(Math.abs(remainingMs) / 60000);
  const days = Math.floor(minutes / (24 * 60));
  const hours = Math.floor((minutes % (24 * 60)) / 60);
  const mins = minutes % 60;
  let span;
  if (days) span = `${days} d ${hours} h`;
  else if (hours) span = `${hours} h ${mins} min`;
  else if (mins) span = `${mins} min`;
  else span = 'less than a minute';
  return remainingMs < 0 ? `overdue by ${span}` : `in ${span}`;
}

function refresh() {
  const now = Date.now();
  for (const element of document.querySelectorAll('[data-countdown]')) {
    const due = Date.parse(element.getAttribute('data-countdown'));
    if (Number.isNaN(due)) continue;
    const text = relativeText(due - now);
    if (element.textContent !== text) element.textContent = text;
    element.classList.toggle('overdue', due - now < 0);
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
