// Vigil reviewer workspace: keyboard shortcuts, logged reveals, claim lease renewal.
// Plain JavaScript, no inline handlers (CSP forbids them), no network but Vigil itself.
(function () {
  "use strict";
  var messages = Array.prototype.slice.call(document.querySelectorAll("article.message"));
  var current = -1;
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var header = document.querySelector(".case-header");

  function typing(target) {
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function select(index) {
    if (!messages.length) return;
    current = Math.max(0, Math.min(messages.length - 1, index));
    messages.forEach(function (m, i) { m.classList.toggle("selected", i === current); });
    messages[current].focus();
    messages[current].scrollIntoView({ block: "nearest" });
  }

  function reveal(message) {
    if (!message || !message.classList.contains("blurred")) return;
    fetch(message.dataset.reveal, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.content : "", "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) throw new Error("reveal refused: " + response.status);
      return response.json();
    }).then(function (data) {
      // data.html was escaped on the server (hidden characters shown as markers).
      message.querySelector(".message-text").innerHTML = data.html;
      message.classList.remove("blurred");
      message.classList.add("revealed");
    }).catch(function () {
      message.classList.add("reveal-failed");
    });
  }

  messages.forEach(function (message, i) {
    var button = message.querySelector("button.reveal");
    if (button) button.addEventListener("click", function () { select(i); reveal(message); });
  });

  function focusFirst(selector) {
    var el = document.querySelector(selector);
    if (el) { el.focus(); el.scrollIntoView({ block: "center" }); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && typing(event.target)) {
      // Leave the field without the mouse: the shortcuts work again.
      event.target.blur();
      if (current >= 0) messages[current].focus();
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "r": reveal(messages[current < 0 ? 0 : current]); if (current < 0) select(0); break;
      case "n": var next = document.getElementById("next-form"); if (next) next.submit(); break;
      case "e": focusFirst("#escalate-target"); break;
      case "l": focusFirst("#labels"); break;
      case "?": var help = document.getElementById("shortcut-help"); if (help) help.hidden = !help.hidden; break;
      default: return;
    }
    event.preventDefault();
  });

  // Decision forms answer bad input inline: the typed facts stay, the error shows above
  // the button. Without JavaScript the form posts as usual (and errors get their own page).
  Array.prototype.forEach.call(document.querySelectorAll("form[data-inline-errors]"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new FormData(form),
        redirect: "manual", headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (response.type === "opaqueredirect") { window.location.assign(form.dataset.next); return; }
        var known = response.status === 409 || response.status === 422;
        var read = known ? response.json() : Promise.resolve({
          error: "Vigil answered " + response.status + ": nothing was recorded. Reload the page."
        });
        return read.then(function (data) {
          var box = form.querySelector(".form-error");
          if (!box) {
            box = document.createElement("p");
            box.className = "error form-error";
            box.setAttribute("role", "alert");
            form.insertBefore(box, form.querySelector("button[type=submit]"));
          }
          box.textContent = data.error;
          box.scrollIntoView({ block: "center" });
        });
      }).catch(function () {
        // The request may not have reached Vigil: say so rather than post it twice.
        window.alert("Vigil could not be reached; check the case page before trying again.");
      });
    });
  });

  // The SLA timer: time left (or overdue) from the deadline the server rendered.
  var sla = document.getElementById("sla-timer");
  function tick() {
    var left = Math.round((Date.parse(sla.dataset.due) - Date.now()) / 60000);
    var hours = Math.floor(Math.abs(left) / 60), minutes = Math.abs(left) % 60;
    var span = (hours ? hours + " h " : "") + minutes + " min";
    sla.textContent = left >= 0 ? span + " left" : "overdue by " + span;
    sla.classList.toggle("overdue", left < 0);
  }
  if (sla && sla.dataset.due) { tick(); setInterval(tick, 30000); }

  // Keep the claim while the reviewer works; say so plainly when it is lost.
  if (header && header.dataset.token) {
    setInterval(function () {
      var body = new URLSearchParams({ token: header.dataset.token });
      fetch(header.dataset.renew, {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "X-CSRFToken": csrf ? csrf.content : "", "Accept": "application/json" }
      }).then(function (response) {
        if (response.status === 409) {
          document.body.classList.add("claim-lost");
          var lease = document.getElementById("lease");
          if (lease) lease.textContent = "expired: claim the case again before deciding";
        }
      });
    }, 120000);
  }
})();
