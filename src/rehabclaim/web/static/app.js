// rehabclaim's pages: service rows added and removed, failed htmx requests shown. Plain script, no build step;
// the Content-Security-Policy allows scripts from /static only (a page's data goes in a
// <script type="application/json"> block that its own script reads, as reports.js does).
(function () {
  "use strict";

  // --- rows (visit entry, calculator): a table with [data-rows], a <template data-row-template> beside it,
  // an [data-add-row] button in the same form. Inputs carry data-field, labels data-for; ids are renumbered
  // from 0 after every change, so a server message about "row 3" points at the third row on screen.
  function renumber(table) {
    var prefix = table.getAttribute("data-id-prefix") || "";
    var rows = table.querySelectorAll("tbody [data-row]");
    rows.forEach(function (row, index) {
      row.querySelectorAll("[data-field]").forEach(function (input) {
        input.id = prefix + input.getAttribute("data-field") + "-" + index;
      });
      row.querySelectorAll("label[data-for]").forEach(function (label) {
        label.htmlFor = prefix + label.getAttribute("data-for") + "-" + index;
      });
      row.querySelectorAll("[data-row-number]").forEach(function (number) {
        number.textContent = String(index + 1);
      });
      row.querySelectorAll("[data-remove-row]").forEach(function (button) {
        button.setAttribute("aria-label", "Remove row " + (index + 1));
      });
    });
  }

  function rowsChanged(table) {
    renumber(table);
    table.dispatchEvent(new CustomEvent("rows-changed", { bubbles: true }));
  }

  function addRow(form) {
    var table = form.querySelector("[data-rows]");
    var template = form.querySelector("template[data-row-template]");
    if (!table || !template) return;
    var row = template.content.querySelector("[data-row]").cloneNode(true);
    table.querySelector("tbody").appendChild(row);
    renumber(table);
    var first = row.querySelector("input");
    if (first) first.focus();
  }

  function removeRow(button) {
    var row = button.closest("[data-row]");
    var table = button.closest("[data-rows]");
    if (!row || !table) return;
    var rows = table.querySelectorAll("tbody [data-row]");
    var index = Array.prototype.indexOf.call(rows, row);
    if (rows.length === 1) {
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      rowsChanged(table);
      row.querySelector("input").focus();
      return;
    }
    row.remove();
    rowsChanged(table);
    // focus stays in the table: the row that took this one's place, else the one before
    var remaining = table.querySelectorAll("tbody [data-row]");
    var next = remaining[Math.min(index, remaining.length - 1)];
    next.querySelector("input").focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var add = target.closest("[data-add-row]");
    if (add && add.form) {
      event.preventDefault();
      addRow(add.form);
      return;
    }
    var remove = target.closest("[data-remove-row]");
    if (remove) {
      event.preventDefault();
      removeRow(remove);
    }
  });

  // --- a request htmx could not complete (a server failure, the network): said once, at the top of main
  function showFailure(text) {
    var box = document.getElementById("request-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }

  function hideFailure() {
    var box = document.getElementById("request-error");
    if (box) box.hidden = true;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : "";
    showFailure("The server could not answer (HTTP " + status + "). Try again; if it keeps failing, tell your administrator.");
  });
  document.addEventListener("htmx:sendError", function () {
    showFailure("The server cannot be reached. Check the connection and try again.");
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    hideFailure();
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rows]").forEach(renumber);
  });
})();
