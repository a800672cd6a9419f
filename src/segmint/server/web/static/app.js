// segmint web app: small behaviours on top of htmx (no build step).
(function () {
  "use strict";
  function flash(html) {
    var box = document.getElementById("flash");
    if (box) { box.innerHTML = html; }
  }
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var body = xhr && xhr.responseText ? xhr.responseText : "";
    if (body && body.indexOf("<") === 0) {
      flash(body);  // the server's error fragment (escaped by the template)
    } else {
      var p = document.createElement("p");
      p.className = "alert error";
      p.setAttribute("role", "alert");
      p.textContent = "Error " + (xhr ? xhr.status : "") + ".";
      flash(p.outerHTML);
    }
  });
  document.addEventListener("htmx:sendError", function () {
    var p = document.createElement("p");
    p.className = "alert error";
    p.textContent = "The server cannot be reached.";
    flash(p.outerHTML);
  });
  document.addEventListener("htmx:beforeRequest", function () { flash(""); });
})();
