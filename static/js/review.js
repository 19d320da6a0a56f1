/* Reviewer keyboard shortcuts (no inline script: the CSP allows only our own files).
 *   n        take the next claim            1-4  choose an outcome (in the form's order)
 *   Ctrl+Enter / s  submit the decision     r    release the claim to its queue
 *   j        next photo                     ?    show or hide this help
 * Keys typed into a field are left alone (except Ctrl+Enter, which submits). */
(function () {
  "use strict";

  function typing(event) {
    var el = event.target;
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function submit(form) {
    if (!form) return false;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
    return true;
  }

  var photoIndex = -1;
  function nextPhoto() {
    var photos = document.querySelectorAll(".photo-frame img, figure img");
    if (!photos.length) return false;
    photoIndex = (photoIndex + 1) % photos.length;
    var photo = photos[photoIndex];
    photo.scrollIntoView({ block: "center" });
    photo.setAttribute("tabindex", "-1");
    photo.focus();
    document.body.setAttribute("data-photo-index", String(photoIndex));
    return true;
  }

  function chooseOutcome(n) {
    var radios = document.querySelectorAll('form[data-decision-form] input[name="outcome"]');
    var radio = radios[n - 1];
    if (!radio) return false;
    radio.checked = true;
    radio.focus();
    return true;
  }

  function toggleHelp() {
    var help = document.getElementById("shortcut-help");
    if (!help) return false;
    help.hidden = !help.hidden;
    return true;
  }

  document.addEventListener("keydown", function (event) {
    var decision = document.querySelector("form[data-decision-form]");
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (submit(decision)) event.preventDefault();
      return;
    }
    if (typing(event) || event.altKey || event.ctrlKey || event.metaKey) return;
    var done = false;
    switch (event.key) {
      case "?": done = toggleHelp(); break;
      case "n": done = submit(document.querySelector("form[data-take-next]")); break;
      case "r": done = submit(document.querySelector("form[data-release]")); break;
      case "s": done = submit(decision); break;
      case "j": done = nextPhoto(); break;
      case "Escape": {
        var help = document.getElementById("shortcut-help");
        if (help && !help.hidden) { help.hidden = true; done = true; }
        break;
      }
      default:
        if (/^[1-9]$/.test(event.key)) done = chooseOutcome(Number(event.key));
    }
    if (done) event.preventDefault();
  });
})();
