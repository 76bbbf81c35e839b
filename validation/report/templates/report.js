/* radval report: sortable and filterable tables, collapsible long tables. Optional:
   without JavaScript (or in print) every row and table is shown. No network access. */
(function () {
  "use strict";
  var MINUS = String.fromCharCode(0x2212);

  function cellValue(td, numeric) {
    var v = td.getAttribute("data-v");
    var t = (v !== null ? v : td.textContent).trim();
    if (!numeric) { return t.toLowerCase(); }
    if (t.charAt(0) === "<") { t = t.slice(1); }
    var x = parseFloat(t.split(MINUS).join("-"));
    return x === x ? x : null; // false only for not-a-number
  }

  function sortTable(table, th, index, numeric) {
    var body = table.tBodies[0];
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (r, i) {
      return { row: r, i: i, v: cellValue(r.cells[index], numeric) };
    });
    keyed.sort(function (a, b) {
      if (a.v === null || a.v === "") { return (b.v === null || b.v === "") ? a.i - b.i : 1; }
      if (b.v === null || b.v === "") { return -1; }
      if (a.v < b.v) { return -dir; }
      if (a.v > b.v) { return dir; }
      return a.i - b.i;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
  }

  function makeSortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var kind = th.getAttribute("data-sort");
      if (!kind) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.title = "Sort by this column (click again to reverse)";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        sortTable(table, th, index, kind === "num");
      });
    });
  }

  function applyFilters(tools, table) {
    var want = {};
    Array.prototype.forEach.call(tools.querySelectorAll("[data-filter]"), function (el) {
      want[el.getAttribute("data-filter")] = el.type === "checkbox" ? el.checked : el.value;
    });
    var shown = 0;
    var rows = table.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (r) {
      var ok = (!want.flagged || r.getAttribute("data-flagged") === "yes") &&
        (!want.prespecified || r.getAttribute("data-prespecified") === "yes") &&
        (!want.differs || r.getAttribute("data-tone") !== "none") &&
        (!want.attribute || r.getAttribute("data-attribute") === want.attribute);
      r.classList.toggle("filtered-out", !ok);
      if (ok) { shown += 1; }
    });
    var count = tools.querySelector("[data-count]");
    if (count) { count.textContent = "showing " + shown + " of " + rows.length + " rows"; }
  }

  function makeFilterable(tools) {
    var table = document.getElementById(tools.getAttribute("data-for"));
    if (!table) { return; }
    tools.hidden = false;
    Array.prototype.forEach.call(tools.querySelectorAll("[data-filter]"), function (el) {
      el.addEventListener("change", function () { applyFilters(tools, table); });
    });
    applyFilters(tools, table);
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll(".table-tools[data-for]").forEach(makeFilterable);
  document.querySelectorAll("details.collapsible[data-collapse]").forEach(function (d) {
    if (parseInt(d.getAttribute("data-collapse"), 10) > 12) { d.open = false; }
  });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details.collapsible").forEach(function (d) { d.open = true; });
  });
}());
