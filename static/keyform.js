/* The key tab's one form. "Paste a new key" ([data-focus-key] links, href="#api-key"): focus the key tab's one field and select what it
   holds, so a paste replaces it. Without JavaScript the anchor still scrolls there. No inline script anywhere:
   the CSP allows only 'self'. */
(function () {
  "use strict";
  function focusField(field) {
    field.scrollIntoView({block: "center"});
    field.focus({preventScroll: true});
    if (field.select) field.select();
  }

  // A link from elsewhere (an account that needs a new key) to /connect?tab=key#api-key: the field, focused.
  document.addEventListener("DOMContentLoaded", function () {
    var field = location.hash === "#api-key" && document.getElementById("api-key");
    if (field) focusField(field);
  });

  // Once a key is connected, the field lets go of it: it is not left in the page, masked or not.
  document.addEventListener("htmx:afterSwap", function (event) {
    var area = event.detail && event.detail.target;
    if (!area || area.id !== "key-result" || !area.querySelector('[data-result="success"]')) return;
    var field = document.getElementById("api-key");
    if (field) field.value = "";
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-focus-key]");
    if (!link) return;
    var field = document.getElementById((link.getAttribute("href") || "#api-key").slice(1));
    if (!field) return;
    event.preventDefault();
    focusField(field);
  });
})();
