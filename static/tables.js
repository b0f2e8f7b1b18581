/* Tables on phones become stacked cards (app.css, `td[data-label]`): a cell without its own data-label gets its
   column's heading here, so every table stacks, whoever wrote it. Runs on load and after each htmx swap. */
(function () {
  "use strict";

  function label(root) {
    var tables = (root.querySelectorAll ? root : document).querySelectorAll("table");
    Array.prototype.forEach.call(tables, function (table) {
      var head = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
      if (!head) return;
      var names = [];
      Array.prototype.forEach.call(head.cells, function (cell) {
        for (var i = 0; i < (cell.colSpan || 1); i++) names.push(cell.textContent.trim());
      });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr, tfoot tr"), function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute("data-label") && (cell.colSpan || 1) === 1 && names[column]) {
            cell.setAttribute("data-label", names[column]);
          }
          column += cell.colSpan || 1;
        });
      });
    });
  }

  // A table that is still wider than the page scrolls inside its wrapper: keyboard users can reach it there.
  function reachable() {
    Array.prototype.forEach.call(document.querySelectorAll(".table-wrap"), function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1 && !wrap.hasAttribute("tabindex")) {
        wrap.setAttribute("tabindex", "0");
        var caption = wrap.querySelector("caption, th");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table");
      }
    });
  }

  function update(root) { label(root); reachable(); }

  document.addEventListener("DOMContentLoaded", function () { update(document); });
  document.addEventListener("htmx:afterSettle", function (event) { update(event.target.parentNode || document); });
  window.addEventListener("resize", reachable);
})();
