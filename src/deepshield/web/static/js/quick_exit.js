// The quick exit of every victim page (web-portal.md, "Quick exit"):
// - the "Leave this site now" button and Shift pressed three times both leave with
//   location.replace, so the portal page is not left behind in this tab's history;
// - links within this site also navigate with location.replace, so Back from the neutral site
//   lands on the page before the portal, not on another portal page.
// Without JavaScript the button is an ordinary link to the same neutral site.

const button = document.querySelector("[data-quick-exit]");
const exitUrl = button ? button.getAttribute("data-quick-exit") : "https://www.bbc.co.uk/weather";

function leave(event) {
  if (event) event.preventDefault();
  // Hide the page at once, before the next one loads.
  document.documentElement.classList.add("leaving");
  window.location.replace(exitUrl);
}

if (button) button.addEventListener("click", leave);

// Shift three times within two seconds, with no other key between.
let presses = [];
document.addEventListener("keydown", (event) => {
  if (event.key !== "Shift") {
    presses = [];
    return;
  }
  if (event.repeat) return;
  const now = Date.now();
  presses = presses.filter((at) => now - at < 2000);
  presses.push(now);
  if (presses.length >= 3) leave(event);
});

// Same-site links replace the current history entry instead of adding one.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!link || link.hasAttribute("download") || link.target === "_blank") return;
  const url = new URL(link.href, window.location.href);
  if (url.origin !== window.location.origin) return;
  if (url.pathname === window.location.pathname && url.hash) return; // in-page anchors
  event.preventDefault();
  window.location.replace(url.href);
});
