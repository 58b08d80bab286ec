// Token entry: shown on the first visit and whenever the server no longer accepts the token.

import { api, ApiError, token } from "../api.js";
import { h, replace } from "../dom.js";

/** Ask for an API token, check it against /api/config, keep it in localStorage. */
export function loginView(root, { message = "", onSignedIn }) {
  document.title = "Sign in · Enigma";
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "current-password", required: true,
    "aria-describedby": "token-help token-error", spellcheck: "false",
  });
  const error = h("p", { id: "token-error", class: "field-error", role: "alert" }, message);
  const submit = h("button", { type: "submit", class: "btn primary" }, "Sign in");
  const form = h("form", { class: "login card", novalidate: true },
    h("h1", {}, "Sign in to Enigma"),
    h("p", { class: "muted" }, "Release runs, plans and approvals for release managers."),
    h("div", { class: "field" },
      h("label", { for: "token" }, "API token"),
      input,
      h("p", { id: "token-help", class: "help" }, "Ask your Enigma administrator for a token. It is kept in this browser until you sign out.")),
    error,
    h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      error.textContent = "Enter your API token.";
      input.focus();
      return;
    }
    submit.disabled = true;
    token.set(value);
    try {
      const config = await api("/api/config");
      onSignedIn(config);
    } catch (exc) {
      token.clear();
      error.textContent = exc instanceof ApiError && exc.status === 401
        ? "This token is not known to Enigma. Check it and try again."
        : exc.message;
      submit.disabled = false;
      input.select();
    }
  });
  replace(root, h("div", { class: "login-wrap" }, form));
  input.focus();
  return { destroy() {} };
}
