/* Claimlens uploads: drag and drop, several files, a progress bar per file.
 *
 * Enhances every <form data-upload-form> holding a <div data-upload> (see
 * templates/merchants/partials/upload.html). Without this script the form is a plain
 * multipart form and works the same. The server decides what it accepts: the checks
 * here only warn early with the limits the page states (data-max-bytes, data-accept).
 * One request carries every file, so the server attaches all of them or none; each
 * file's bar follows its own part of that request.
 * No inline script and no inline style: the Content-Security-Policy allows neither.
 */
(function () {
  "use strict";

  function formatSize(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function accepted(file, accept) {
    if (!accept) return true;
    return accept.split(",").some(function (type) {
      type = type.trim();
      return type === file.type || (type.endsWith("/*") && file.type.indexOf(type.slice(0, -1)) === 0);
    });
  }

  function setup(form) {
    var box = form.querySelector("[data-upload]");
    if (!box || form.dataset.uploadReady) return;
    form.dataset.uploadReady = "1";
    var input = box.querySelector("input[type=file]");
    var zone = box.querySelector("[data-dropzone]");
    var list = box.querySelector("[data-upload-list]");
    var maxBytes = parseInt(box.dataset.maxBytes, 10) || 0;
    var maxFiles = parseInt(box.dataset.maxFiles, 10) || 0;
    var accept = box.dataset.accept || "";
    var rows = [];

    function show() {
      list.textContent = "";
      rows = [];
      var files = Array.prototype.slice.call(input.files || []);
      if (maxFiles && files.length > maxFiles) {
        var warn = document.createElement("li");
        warn.className = "errorlist";
        warn.textContent = box.dataset.msgTooMany;
        list.appendChild(warn);
      }
      files.forEach(function (file) {
        var item = document.createElement("li");
        item.className = "upload-item";
        item.dataset.uploadFile = file.name;
        var label = document.createElement("span");
        label.className = "upload-name";
        label.textContent = file.name + " · " + formatSize(file.size);
        var bar = document.createElement("progress");
        bar.max = 100;
        bar.value = 0;
        var note = document.createElement("span");
        note.className = "small";
        var problems = [];
        if (maxBytes && file.size > maxBytes) problems.push(box.dataset.msgTooLarge);
        if (!accepted(file, accept)) problems.push(box.dataset.msgWrongType);
        if (problems.length) {
          note.className = "small errorlist";
          note.textContent = problems.join("; ");
        }
        item.appendChild(label);
        item.appendChild(bar);
        item.appendChild(note);
        list.appendChild(item);
        rows.push({ file: file, bar: bar, note: note });
      });
    }

    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove("dragging");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      show();
    });

    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest || !rows.length) return; // plain form
      event.preventDefault();
      var button = form.querySelector("[type=submit]");
      if (button) button.disabled = true;
      var data = new FormData(form);
      var sizes = rows.map(function (row) { return row.file.size; });
      var total = sizes.reduce(function (a, b) { return a + b; }, 0);
      rows.forEach(function (row) { row.note.textContent = box.dataset.msgSending; });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        // The form's other fields come first; the files follow in order.
        var sent = e.loaded - Math.max(0, e.total - total);
        var offset = 0;
        rows.forEach(function (row, i) {
          var part = sizes[i] ? Math.min(1, Math.max(0, (sent - offset) / sizes[i])) : 1;
          row.bar.value = Math.round(part * 100);
          offset += sizes[i];
        });
      });
      xhr.addEventListener("load", function () {
        rows.forEach(function (row) { row.bar.value = 100; });
        var target = xhr.getResponseHeader("X-Upload-Redirect");
        if (xhr.status === 204 && target) {
          window.location.assign(target); // done: the page the server names
          return;
        }
        // Refused: show the page the server answered (it names each refused file).
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var fresh = page.querySelector("main");
        var main = document.querySelector("main");
        if (fresh && main) {
          var position = Array.prototype.indexOf.call(main.querySelectorAll("form[data-upload-form]"), form);
          var chosen = rows.map(function (row) { return row.file; });
          main.replaceWith(document.importNode(fresh, true));
          init();
          keepChosen(position, chosen);
          // Other scripts of the page may set up what they own in the new content.
          document.dispatchEvent(new CustomEvent("claimlens:content-replaced"));
          var alert = document.querySelector("[role=alert]");
          if (alert && alert.scrollIntoView) alert.scrollIntoView({ block: "center" });
        }
      });
      xhr.addEventListener("error", function () {
        if (button) button.disabled = false;
        rows.forEach(function (row) {
          row.note.className = "small errorlist";
          row.note.textContent = box.dataset.msgFailed;
        });
      });
      xhr.send(data);
    });
  }

  // After a refusal nothing was kept, but the files the server did not name are still
  // chosen in the new form (and say so): sending again needs no second pick.
  function keepChosen(position, files) {
    var main = document.querySelector("main");
    var form = main && main.querySelectorAll("form[data-upload-form]")[position];
    var box = form && form.querySelector("[data-upload]");
    if (!box || !files.length || !window.DataTransfer) return;
    var refused = Array.prototype.map.call(
      main.querySelectorAll(".errorlist li, [data-upload-errors] li"),
      function (line) { return line.textContent.trim(); }
    );
    var transfer = new DataTransfer();
    files.forEach(function (file) {
      var named = refused.some(function (line) { return line.indexOf(file.name + ":") === 0; });
      if (!named) transfer.items.add(file);
    });
    if (!transfer.files.length) return;
    var input = box.querySelector("input[type=file]");
    input.files = transfer.files;
    input.dispatchEvent(new Event("change"));
    Array.prototype.forEach.call(box.querySelectorAll("[data-upload-file] .small"), function (note) {
      if (!note.textContent) note.textContent = box.dataset.msgKept;
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-upload-form]"), setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
