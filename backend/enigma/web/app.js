// Enigma's web page: token sign-in, then hash routes #/ (runs), #/new and #/runs/<id>.

import { api, ApiError, setUnauthorizedHandler, token } from "./api.js";
import { h, replace } from "./dom.js";
import { loginView } from "./views/login.js";
import { newRunView } from "./views/new_run.js";
import { runView } from "./views/run.js";
import { runsView } from "./views/runs.js";

const root = document.getElementById("app");
const userBox = document.getElementById("user");
const nav = document.getElementById("nav");
let config = null;
let view = null;

function navigate(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function showUser() {
  if (!config) {
    replace(userBox);
    nav.hidden = true;
    return;
  }
  nav.hidden = false;
  const roles = config.roles.map((r) => r.replaceAll("_", " ")).join(", ") || "no role";
  replace(userBox,
    h("span", { class: "who" }, h("strong", { id: "user-name" }, config.user), h("span", { class: "muted small", id: "user-roles" }, roles)),
    config.sandbox ? h("span", { class: "tag", title: "Jira, GitHub and Confluence are simulated on this machine" }, "sandbox") : null,
    h("button", { type: "button", class: "btn small", id: "logout", onclick: signOut }, "Sign out"));
}

function signOut() {
  token.clear();
  config = null;
  showLogin("");
}

function showLogin(message) {
  view?.destroy();
  config = null;
  showUser();
  view = loginView(root, {
    message,
    onSignedIn: (cfg) => {
      config = cfg;
      showUser();
      if (!window.location.hash || window.location.hash === "#/login") navigate("#/");
      else route();
    },
  });
}

function route() {
  if (!config) return;
  view?.destroy();
  const raw = window.location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  const ctx = { config, navigate };
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#${path}`);
  }
  const match = path.match(/^\/runs\/([^/]+)$/);
  if (match) view = runView(root, ctx, decodeURIComponent(match[1]));
  else if (path === "/new") view = newRunView(root, ctx);
  else view = runsView(root, ctx, params);
  root.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

async function boot() {
  setUnauthorizedHandler(() => {
    if (!config) return;
    token.clear();
    showLogin("Your token is no longer accepted. Sign in again.");
  });
  window.addEventListener("hashchange", route);
  if (!token.get()) {
    showLogin("");
    return;
  }
  try {
    config = await api("/api/config");
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) {
      token.clear();
      showLogin("Your token is no longer accepted. Sign in again.");
    } else {
      replace(root, h("section", { class: "card narrow" }, h("h1", {}, "Enigma is not reachable"),
        h("p", { class: "error", role: "alert" }, exc.message),
        h("button", { type: "button", class: "btn primary", onclick: () => window.location.reload() }, "Try again")));
    }
    return;
  }
  showUser();
  route();
}

boot();
