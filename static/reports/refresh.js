// Redraws the live part of a report page in place every few seconds, without a page load:
// the server renders the fragment, this only swaps it in. Loaded as a file, not inline, so a
// content security policy can forbid inline scripts.
(function () {
  "use strict";
  var region = document.querySelector("[data-refresh-url]");
  if (!region || !window.fetch) {
    return;
  }
  var url = region.getAttribute("data-refresh-url");
  var seconds = Number(region.getAttribute("data-refresh-seconds")) || 5;
  var state = document.getElementById("refresh-state");
  var inFlight = false;

  function say(text) {
    if (state) {
      state.textContent = text;
    }
  }

  function refresh() {
    if (inFlight || document.hidden) {
      return;
    }
    inFlight = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected) {
          // Signed out while watching: let the server send the login page.
          window.location.reload();
          throw new Error("signed out");
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        region.innerHTML = html;
        say("");
      })
      .catch(function (error) {
        say("Could not refresh (" + error.message + "); showing the last data, retrying.");
      })
      .then(function () {
        inFlight = false;
      });
  }

  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
