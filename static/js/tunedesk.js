// Small, dependency-free helpers shared by every page.
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
});
