/**
 * The sign-in of the IDE and the dashboard, for a server that needs a key: a browser script that sends
 * the key kept in the tab's session storage as `Authorization: Bearer <key>`, and on a 401 answer asks
 * for one in a field at the top of the page (kept until the tab closes, never in local storage).
 */

/** File name of the script under the IDE's and the dashboard's asset folders. */
export const SIGN_IN_SCRIPT_NAME = "sign-in.js";

/** Where the key is kept in sessionStorage. */
export const SIGN_IN_STORAGE_KEY = "vcm.apiKey";

/** The script: defines window.vcmSignIn = { fetch, headers, ask }. */
export const SIGN_IN_SCRIPT = `"use strict";
(function () {
  var STORAGE = ${JSON.stringify(SIGN_IN_STORAGE_KEY)};
  function key() {
    try { return window.sessionStorage.getItem(STORAGE) || ""; } catch (e) { return ""; }
  }
  function headers() {
    var k = key();
    return k ? { authorization: "Bearer " + k } : {};
  }
  function ask(message) {
    if (document.getElementById("vcm-sign-in")) return;
    var form = document.createElement("form");
    form.id = "vcm-sign-in";
    form.setAttribute("style", "position:fixed;top:0;left:0;right:0;z-index:1000;background:#fff8e1;border-bottom:1px solid #ccc;padding:8px 16px;font:14px system-ui,sans-serif");
    var text = document.createElement("span");
    text.textContent = (message || "This server needs an API key.") + " ";
    var input = document.createElement("input");
    input.type = "password";
    input.id = "vcm-key";
    input.autocomplete = "off";
    input.size = 48;
    input.setAttribute("aria-label", "API key");
    input.placeholder = "vcm_…";
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Sign in";
    form.appendChild(text);
    form.appendChild(input);
    form.appendChild(button);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      window.sessionStorage.setItem(STORAGE, input.value.trim());
      window.location.reload();
    });
    document.body.insertBefore(form, document.body.firstChild);
    input.focus();
  }
  function signedFetch(url, init) {
    var options = Object.assign({}, init || {});
    options.headers = Object.assign({}, options.headers || {}, headers());
    return window.fetch(url, options).then(function (response) {
      if (response.status === 401) {
        response.clone().json().then(
          function (body) { ask(body && body.errors && body.errors[0] ? body.errors[0].message : undefined); },
          function () { ask(); }
        );
      }
      return response;
    });
  }
  window.vcmSignIn = { fetch: signedFetch, headers: headers, ask: ask };
})();
`;
