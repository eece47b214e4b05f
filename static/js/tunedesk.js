// Small, dependency-free helpers shared by every page. No inline handlers or style
// attributes anywhere: the Content-Security-Policy (config/security.py) forbids them, so
// behaviour lives here and sizes come from data attributes, set through the CSSOM.
document.addEventListener("DOMContentLoaded", () => {
  if (window.htmx) {
    // Swap 4xx answers too: services explain refusals (403, 409 conflict, 400 invalid) in the
    // fragment they return, and the user must see it instead of a silent no-op.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "4..", swap: true, error: false },
      { code: "5..", swap: false, error: true },
    ];
  }
  sizeBars(document);
});

// <select data-submit-on-change> (the language switch) submits its form when changed.
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-submit-on-change]");
  if (field && field.form) field.form.submit();
});

// Bars whose size is data: <span data-height="42"> gets height 42%.
function sizeBars(root) {
  const bars = Array.from(root.querySelectorAll("[data-height]"));
  if (root.matches?.("[data-height]")) bars.push(root);
  for (const el of bars) el.style.height = `${el.dataset.height}%`;
}
document.addEventListener("htmx:load", (event) => sizeBars(event.target));
