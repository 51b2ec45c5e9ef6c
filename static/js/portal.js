// Behaviour shared by every page. No inline scripts or on* attributes: the
// Content-Security-Policy allows scripts from the portal's own files only.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // <select data-autosubmit>: submit its form on change (the language switch;
  // a <noscript> button covers browsers without JavaScript).
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
