// "Is this labelled?": a file (with the original, when one is chosen too) over the server's limit
// is refused here, before it is sent (the server refuses it too), and a "checking" message shows
// while the file is analysed. The form works the same without this script.

const MB = 1024 * 1024;

for (const form of document.querySelectorAll("form.verify-form")) {
  const input = form.querySelector('input[type="file"]');
  const inputs = [...form.querySelectorAll('input[type="file"]')];
  const status = form.querySelector("[data-verify-status]");
  const maxBytes = Number(form.getAttribute("data-max-bytes")) || 0;
  if (!input || !status) continue;
  let sending = false;

  const reset = () => {
    sending = false;
    status.textContent = "";
    for (const button of form.querySelectorAll("button")) button.removeAttribute("aria-disabled");
  };

  for (const each of inputs) {
    each.addEventListener("change", () => {
      reset();
      each.removeAttribute("aria-invalid");
    });
  }
  // Back to this page from the result (a restored page keeps its state): the form works again.
  window.addEventListener("pageshow", reset);

  form.addEventListener("submit", (event) => {
    const file = input.files && input.files[0];
    if (sending) {
      event.preventDefault(); // a second press while the first file is being checked
      return;
    }
    // The two files travel in one upload, so together they must fit the limit.
    const chosen = inputs.map((each) => each.files && each.files[0]).filter(Boolean);
    const total = chosen.reduce((sum, each) => sum + each.size, 0);
    if (file && maxBytes && total > maxBytes) {
      event.preventDefault();
      input.setAttribute("aria-invalid", "true");
      const what = chosen.length > 1 ? "Together the two files are" : "That file is";
      status.textContent = `${what} ${(total / MB).toFixed(1)} MB; the most we can check is `
        + `${Math.round(maxBytes / MB)} MB. Nothing was sent.`;
      input.focus();
      return;
    }
    if (file) {
      sending = true;
      status.textContent = "Checking the file. This can take a few seconds for a large picture or a video.";
      for (const button of form.querySelectorAll("button")) button.setAttribute("aria-disabled", "true");
    }
  });
}
