// manifold — a little JavaScript on top of pages that work without it:
// copy buttons, live status on a list's page, and adding/removing source rows in the form.
"use strict";

(function () {
  // Copy buttons: hidden without JavaScript (the text stays selectable).
  function setUpCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.dataset.copy).then(function () {
          var label = button.firstChild;
          var before = label.textContent;
          label.textContent = "Copied";
          button.classList.add("copied");
          setTimeout(function () {
            label.textContent = before;
            button.classList.remove("copied");
          }, 1500);
        });
      });
    });
  }

  // Live status: poll the JSON API until the list is final (or staged), then reload for the full
  // page.
  var ICONS = { queued: "◷", running: "↻", succeeded: "✓", failed: "✕", canceled: "⊘", superseded: "⤳" };
  var FINAL = ["succeeded", "failed", "canceled", "superseded"];

  function setUpPolling() {
    var line = document.querySelector("[data-list]");
    if (!line || line.dataset.final === "true") return;
    var id = line.dataset.list;
    var shown = line.querySelector("[data-status]");
    function poll() {
      fetch("/lists/" + encodeURIComponent(id), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (list) {
          if (!list) return setTimeout(poll, 3000);
          var status = list.status;
          // A stage that became staged shows its release's details: the page has them.
          if (status === "staged" && shown && shown.dataset.status !== status) {
            return window.location.reload();
          }
          if (shown && shown.dataset.status !== status && ICONS[status]) {
            shown.className = "status status-" + status;
            shown.dataset.status = status;
            shown.innerHTML = "";
            var icon = document.createElement("span");
            icon.className = "status-icon";
            icon.setAttribute("aria-hidden", "true");
            icon.textContent = ICONS[status];
            shown.appendChild(icon);
            shown.appendChild(document.createTextNode(status));
          }
          if (FINAL.indexOf(status) >= 0) {
            window.location.reload();
          } else {
            setTimeout(poll, 1000);
          }
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 700);
  }

  // The source rows: add and remove in the page instead of a round trip.
  function setUpRows() {
    var rows = document.querySelector("[data-rows]");
    var add = document.querySelector("[data-add-row]");
    if (!rows || !add) return;

    function renumber() {
      var all = rows.querySelectorAll("[data-row]");
      all.forEach(function (row, i) {
        var number = row.querySelector("[data-row-number]");
        if (number) number.textContent = String(i + 1);
        row.querySelectorAll("input").forEach(function (input) {
          var kind = input.name === "source" ? "source" : "platform";
          input.id = kind + "-" + i;
          var label = row.querySelector("label[data-for='" + kind + "']");
          if (label) label.htmlFor = input.id;
        });
        var remove = row.querySelector("[data-remove-row]");
        if (remove) {
          remove.value = "remove:" + i;
          var hidden = remove.querySelector(".visually-hidden");
          if (hidden) hidden.textContent = " source " + (i + 1);
        }
      });
    }

    rows.querySelectorAll("[data-row]").forEach(function (row) {
      row.querySelectorAll("label").forEach(function (label) {
        label.dataset.for = label.htmlFor.indexOf("source") === 0 ? "source" : "platform";
      });
    });

    rows.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-row]");
      if (!button) return;
      event.preventDefault();
      var row = button.closest("[data-row]");
      var all = rows.querySelectorAll("[data-row]");
      if (all.length > 1) {
        var next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumber();
        var focus = next && next.querySelector("input");
        if (focus) focus.focus();
      } else {
        row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      }
    });

    add.addEventListener("click", function (event) {
      event.preventDefault();
      var last = rows.querySelector("[data-row]:last-of-type");
      var copy = last.cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) {
        input.value = "";
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      });
      copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
      copy.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
      rows.appendChild(copy);
      renumber();
      copy.querySelector("input").focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopy();
    setUpPolling();
    setUpRows();
  });
})();
