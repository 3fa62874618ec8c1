// Passkeys (WebAuthn) for Portcullis: the only script the passkey pages use. Loaded with
// <script src="/static/webauthn.js" defer>; no inline script, so the CSP stays script-src 'self'.
//
// Contract (data- attributes on a <form>, or on a <button> inside one):
//   data-webauthn="register"      add a passkey: POST data-begin, navigator.credentials.create,
//                                 POST data-finish {"ceremony", "name", "credential"}
//   data-webauthn="authenticate"  prove a passkey: POST data-begin, navigator.credentials.get,
//                                 POST data-finish {"ceremony", "credential", ...form fields}
//   data-begin, data-finish       the endpoints (same origin)
//   data-csrf                     the CSRF token, sent as X-CSRF-Token (the cookie is HttpOnly)
//   data-mediation="conditional"  (authenticate only) start at page load with autofill UI
//                                 (an input with autocomplete="username webauthn" is needed)
// Both begin and finish receive the form's fields (all but csrf_token) as JSON. The begin
// response is {"ceremony": "...", "options": {"publicKey": {...}}}; a successful finish
// response is JSON with "redirect" (a local path), which is followed. An error response's
// "detail" (a problem document) is shown in the form's [data-webauthn-error] element.
(function () {
  "use strict";

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function decodeCredentialList(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: fromBase64url(c.id) });
    });
  }

  function creationOptions(options) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = fromBase64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromBase64url(pk.user.id) });
    pk.excludeCredentials = decodeCredentialList(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(options, conditional) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = fromBase64url(pk.challenge);
    pk.allowCredentials = decodeCredentialList(pk.allowCredentials);
    var request = { publicKey: pk };
    // The server asks for conditional mediation on discoverable sign-in; a button press
    // wants the modal dialog instead.
    if (conditional) {
      request.mediation = "conditional";
    }
    return request;
  }

  function registrationJson(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toBase64url(r.attestationObject),
        clientDataJSON: toBase64url(r.clientDataJSON),
        transports: typeof r.getTransports === "function" ? r.getTransports() : undefined,
      },
      extensions: credential.getClientExtensionResults(),
    };
  }

  function assertionJson(credential) {
    var r = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toBase64url(r.authenticatorData),
        clientDataJSON: toBase64url(r.clientDataJSON),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : null,
      },
      extensions: credential.getClientExtensionResults(),
    };
  }

  function formFields(form) {
    var fields = {};
    if (!form) {
      return fields;
    }
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrf_token" && typeof value === "string") {
        fields[key] = value;
      }
    });
    return fields;
  }

  async function postJson(url, csrf, body) {
    var response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrf,
      },
      body: JSON.stringify(body),
    });
    var data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      throw new Error((data && data.detail) || "The request failed (" + response.status + ").");
    }
    return data || {};
  }

  function follow(result) {
    var target = result && result.redirect;
    // Only a local path: never let a response send the browser elsewhere.
    if (typeof target === "string" && target.charAt(0) === "/" && target.charAt(1) !== "/" && target.charAt(1) !== "\\") {
      window.location.assign(target);
    } else {
      window.location.reload();
    }
  }

  function showError(form, message) {
    var box = form && form.querySelector("[data-webauthn-error]");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    } else {
      window.alert(message);
    }
  }

  function describe(error) {
    if (error && error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This authenticator already holds a passkey for this account.";
    }
    return (error && error.message) || "Something went wrong with the passkey.";
  }

  async function register(el, form) {
    var fields = formFields(form);
    var begun = await postJson(el.dataset.begin, el.dataset.csrf, fields);
    var credential = await navigator.credentials.create(creationOptions(begun.options));
    var result = await postJson(el.dataset.finish, el.dataset.csrf, {
      ceremony: begun.ceremony,
      name: fields.name || "",
      credential: registrationJson(credential),
    });
    follow(result);
  }

  async function authenticate(el, form, conditional) {
    var fields = formFields(form);
    var begun = await postJson(el.dataset.begin, el.dataset.csrf, fields);
    var credential = await navigator.credentials.get(requestOptions(begun.options, conditional));
    var body = Object.assign({}, fields, {
      ceremony: begun.ceremony,
      credential: assertionJson(credential),
    });
    follow(await postJson(el.dataset.finish, el.dataset.csrf, body));
  }

  function run(el, conditional) {
    var form = el.tagName === "FORM" ? el : el.form;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(form, "This browser does not support passkeys.");
      return;
    }
    var flow = el.dataset.webauthn === "register" ? register : authenticate;
    flow(el, form, conditional).catch(function (error) {
      // A conditional request is silently abandoned when the user picks nothing.
      if (!conditional) {
        showError(form, describe(error));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-webauthn]").forEach(function (el) {
      if (el.tagName === "FORM") {
        el.addEventListener("submit", function (event) {
          event.preventDefault();
          run(el, false);
        });
      } else {
        el.addEventListener("click", function (event) {
          event.preventDefault();
          run(el, false);
        });
      }
      if (el.dataset.webauthn === "authenticate" && el.dataset.mediation === "conditional" &&
          window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
          if (available) {
            run(el, true);
          }
        });
      }
    });
  });
})();
