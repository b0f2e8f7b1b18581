/* Keyboard support for ARIA tabs ([role=tablist] > [role=tab]): Left/Right (and Home/End) move to a tab and open
   it. The tabs are links htmx follows (the panel is swapped), so "open" is a click; after the swap the new
   panel's selected tab gets the focus back. No inline script anywhere: the CSP allows only 'self'. */
(function () {
  "use strict";
  var refocus = false;

  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest('[role="tab"]');
    if (!tab) return;
    var list = tab.closest('[role="tablist"]');
    var tabs = Array.prototype.slice.call(list.querySelectorAll('[role="tab"]'));
    var index = tabs.indexOf(tab), next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = tabs[(index + 1) % tabs.length];
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = tabs[(index - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    else if (event.key === " ") next = tab;
    if (!next) return;
    event.preventDefault();
    next.focus();
    if (next.getAttribute("aria-selected") !== "true") {
      refocus = true;
      next.click();
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus) return;
    refocus = false;
    var selected = document.querySelector('[role="tab"][aria-selected="true"]');
    if (selected) selected.focus();
  });
})();
