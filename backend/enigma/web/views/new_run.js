// The new-run form: repositories and versions from /api/config, the API's 422 errors inline.

import { api, may, randomId } from "../api.js";
import { h, replace } from "../dom.js";

const FIELDS = ["fix_version", "repositories", "release_type", "sprint_name", "dry_run"];

// The same form contents resend the same key (a double click starts one run); changed contents get a new one.
function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16);
}

function field(name, labelText, control, help) {
  return h("div", { class: "field", "data-field": name },
    h("label", { for: name }, labelText), control,
    help ? h("p", { class: "help", id: `${name}-help` }, help) : null,
    h("p", { class: "field-error", id: `${name}-error`, role: "alert" }));
}

/** Render the form into `root`; returns {destroy}. */
export function newRunView(root, ctx) {
  document.title = "New run · Enigma";
  const { config } = ctx;
  if (!may(config.roles, "start")) {
    replace(root, h("section", { class: "card narrow" },
      h("h1", {}, "Start a release run"),
      h("p", { class: "notice", role: "alert", id: "not-allowed" },
        `${config.user} (${config.roles.join(", ") || "no role"}) may not start runs. A release manager can.`),
      h("a", { href: "#/", class: "btn" }, "Back to runs")));
    return { destroy() {} };
  }
  const idempotencyKey = randomId();
  const version = h("input", {
    id: "fix_version", name: "fix_version", list: "fix-versions", required: true, autocomplete: "off",
    placeholder: "2.4.0", "aria-describedby": "fix_version-help fix_version-error", class: "mono",
  });
  const picks = config.fix_versions.map((v) => h("button", {
    type: "button", class: "chip-btn", "data-version": v,
    onclick: () => { version.value = v; version.focus(); },
  }, v));
  const preselected = new Set(config.default_repositories || config.repositories);
  const repoBoxes = config.repositories.map((r) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "repositories", value: r, checked: preselected.has(r) }),
    h("span", { class: "mono" }, r)));
  const all = h("button", { type: "button", class: "link-btn", onclick: () => {
    const on = !repoBoxes.every((l) => l.firstChild.checked);
    for (const l of repoBoxes) l.firstChild.checked = on;
  } }, "Select all / none");
  const releaseType = h("select", { id: "release_type", name: "release_type" },
    config.release_types.map((t) => h("option", { value: t, selected: t === "minor" }, t)));
  const sprint = h("input", { id: "sprint_name", name: "sprint_name", autocomplete: "off", placeholder: "Sprint 42", "aria-describedby": "sprint_name-help sprint_name-error" });
  const dry = h("input", { id: "dry_run", name: "dry_run", type: "checkbox" });
  const formError = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn primary", id: "start-run" }, "Start run");

  const form = h("form", { class: "card narrow new-run", novalidate: true },
    h("h1", {}, "Start a release run"),
    h("p", { class: "muted" }, "Enigma collects the tickets of the fix version, proposes a plan and waits for your approval before it touches any branch."),
    h("div", { class: "field", "data-field": "repositories", role: "group", "aria-labelledby": "repositories-legend" },
      h("div", { class: "field-head" }, h("span", { id: "repositories-legend", class: "label" }, "Repositories"), all),
      h("div", { class: "checks", id: "repositories" }, repoBoxes),
      h("p", { class: "field-error", id: "repositories-error", role: "alert" })),
    field("fix_version", "Fix version", h("div", {}, version,
      h("datalist", { id: "fix-versions" }, config.fix_versions.map((v) => h("option", { value: v }))),
      picks.length ? h("div", { class: "picks" }, h("span", { class: "muted small" }, "Unreleased in Jira:"), picks) : null),
    "Three numbers, like 2.4.0."),
    h("div", { class: "row" },
      field("release_type", "Release type", releaseType),
      field("sprint_name", "Sprint (optional)", sprint, "Only tickets of this sprint.")),
    h("div", { class: "field", "data-field": "dry_run" },
      h("label", { class: "check" }, dry, h("span", {}, "Dry run — plan and predict only, change nothing")),
      h("p", { class: "field-error", id: "dry_run-error", role: "alert" })),
    formError,
    h("div", { class: "actions" }, submit, h("a", { href: "#/", class: "btn" }, "Cancel")));

  function showErrors(errors, detail) {
    for (const name of FIELDS) {
      const el = form.querySelector(`#${name}-error`);
      if (el) el.textContent = "";
      form.querySelector(`[data-field="${name}"]`)?.classList.remove("invalid");
    }
    formError.textContent = "";
    let first = null;
    for (const err of errors) {
      const name = FIELDS.find((f) => err.field === f || err.field.startsWith(`${f}.`));
      const el = name && form.querySelector(`#${name}-error`);
      if (!el) {
        formError.textContent = `${formError.textContent} ${err.field}: ${err.message}`.trim();
        continue;
      }
      el.textContent = el.textContent ? `${el.textContent} ${err.message}` : err.message;
      form.querySelector(`[data-field="${name}"]`).classList.add("invalid");
      first = first || name;
    }
    if (!errors.length && detail) formError.textContent = detail;
    // 409: this version is being released by another run; offer the way to it.
    const other = !errors.length && /\b(run-[0-9a-f]+)\b/.exec(detail || "");
    if (other) {
      formError.append(" ", h("a", { href: `#/runs/${encodeURIComponent(other[1])}`, "data-live-run": other[1] }, `Open ${other[1]}`));
    }
    if (first === "repositories") form.querySelector("input[name=repositories]")?.focus();
    else if (first) form.querySelector(`#${first}`)?.focus();
    version.setAttribute("aria-invalid", String(first === "fix_version"));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = "Starting…";
    const body = {
      fix_version: version.value.trim(),
      repositories: repoBoxes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value),
      release_type: releaseType.value,
      sprint_name: sprint.value.trim() || null,
      dry_run: dry.checked,
    };
    try {
      const run = await api("/api/runs", { method: "POST", body, idempotencyKey: `${idempotencyKey}-${fnv1a(JSON.stringify(body))}` });
      ctx.navigate(`#/runs/${encodeURIComponent(run.id)}`);
    } catch (exc) {
      showErrors(exc.errors || [], exc.message);
      submit.disabled = false;
      submit.textContent = "Start run";
    }
  });
  replace(root, form);
  version.focus();
  return { destroy() {} };
}
