// Telling the reader that a decision is needed, without pulling the page from under them.
//
// The announcement goes to the page's polite live region (index.html, #announce), which
// exists before any text is put in it, as screen readers need. Focus moves to the new
// decision only when the reader is not busy: nothing focused, or only the page or the run's
// title (where navigation leaves it). Someone typing a comment or a search keeps their place.

const BUSY = "input, textarea, select, button, a[href], [contenteditable], [tabindex]:not([tabindex='-1'])";

/** Say `text` through the live region. */
export function announce(text) {
  const box = document.getElementById("announce");
  if (!box) return;
  // Emptied first, then filled a moment later: the same words twice are read twice.
  box.textContent = "";
  setTimeout(() => { box.textContent = text; }, 60);
}

function idle(root) {
  const active = document.activeElement;
  if (!active || active === document.body || active === root) return true;
  if (active.matches(".run-title h1")) return true;
  return !active.matches(BUSY);
}

/** Move focus to `panel`'s heading when the reader is not in the middle of something. */
export function drawAttention(panel, root) {
  if (!panel || !idle(root)) return;
  panel.querySelector("h2[tabindex]")?.focus();
}
