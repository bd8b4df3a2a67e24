// Keyboard shortcuts for people who triage all day. Keys do nothing while typing in a field.
(function () {
  "use strict";
  function typing(event) {
    var t = event.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function press(id) {
    var button = document.getElementById(id);
    if (button && !button.disabled && !button.closest("fieldset:disabled")) button.click();
  }

  function queue() {
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr[data-href]"));
    var at = -1;
    function select(i) {
      if (!rows.length) return;
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach(function (r, j) { r.classList.toggle("selected", j === at); });
      rows[at].focus();
    }
    rows.forEach(function (row, i) {
      row.addEventListener("click", function (e) { if (e.target.tagName !== "A") location.href = row.dataset.href; });
      row.addEventListener("focus", function () { at = i; });
    });
    document.addEventListener("keydown", function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "j") { select(at + 1); e.preventDefault(); }
      else if (e.key === "k") { select(at - 1); e.preventDefault(); }
      else if (e.key === "Enter" && at >= 0) { location.href = rows[at].dataset.href; e.preventDefault(); }
    });
  }

  function caseView() {
    var head = document.querySelector("[data-case]");
    var audio = document.getElementById("clip");
    var current = document.getElementById("current");
    if (current) current.scrollIntoView({ block: "center" });
    document.addEventListener("keydown", function (e) {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      var keys = { c: "claim", y: "confirm", d: "dismiss", e: "escalate" };
      if (keys[e.key]) { press(keys[e.key]); e.preventDefault(); }
      else if (e.key === "n") { location.href = "/cases/next?after=" + head.dataset.case; e.preventDefault(); }
      else if (e.key === "p" && audio) { if (audio.paused) audio.play(); else audio.pause(); e.preventDefault(); }
    });
  }

  var page = document.body.dataset.page;
  if (page === "queue") queue();
  if (page === "case") caseView();
})();
