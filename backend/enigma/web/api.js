// The one place the page talks to the API: bearer token, JSON, errors, event streams.

const TOKEN_KEY = "enigma.token";

/** Which roles may perform each kind of action (mirrors enigma/api/auth.py ROLE_ACTIONS). */
const ROLE_ACTIONS = {
  read: ["viewer", "release_manager", "approver", "admin"],
  operate: ["release_manager", "admin"],
  approve: ["approver", "admin"],
  amend: ["approver", "release_manager", "admin"],
  decide: ["approver", "release_manager", "admin"],
};

/**
 * The role action each API route needs (the server checks again; this only hides buttons).
 * Every decision route needs "decide"; the run's policy then names, per decision, the roles
 * that may answer it (views/decision_rules.js).
 */
export const COMMAND_ROLE = {
  start: "operate", pause: "operate", resume: "operate", cancel: "operate",
  approve: "decide", reject: "decide", abort: "decide", amend: "amend", retry: "decide", skip: "decide",
};

export const token = {
  get: () => window.localStorage.getItem(TOKEN_KEY),
  set: (value) => window.localStorage.setItem(TOKEN_KEY, value),
  clear: () => window.localStorage.removeItem(TOKEN_KEY),
};

/** Whether `roles` allow `command` (start, approve, skip, ...). */
export function may(roles, command) {
  const allowed = ROLE_ACTIONS[COMMAND_ROLE[command] || command] || [];
  return (roles || []).some((r) => allowed.includes(r));
}

/** An API error: HTTP status, the server's `detail`, and per-field `errors`. */
export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}

let onUnauthorized = () => {};

/** Called when the server rejects the token (401): the app asks for a new one. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${token.get() || ""}`, Accept: "application/json", ...extra };
}

/** Call the API; resolve to the JSON body or throw ApiError. */
export async function api(path, { method = "GET", body, idempotencyKey, signal } = {}) {
  const extra = body === undefined ? {} : { "Content-Type": "application/json" };
  if (idempotencyKey) extra["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, {
      method, headers: headers(extra), body: body === undefined ? undefined : JSON.stringify(body),
      signal, cache: "no-store",
    });
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, "Enigma is not reachable; check the server and try again.");
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data.detail, data.errors || []);
  return data;
}

/** A random id (also outside secure contexts, where crypto.randomUUID is missing). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Follow a server-sent event stream.
 *
 * fetch() rather than EventSource: it sends the token in the Authorization header (a token in
 * the URL would end up in access logs) and receives every event name, where EventSource needs
 * one listener per name. It reconnects with `Last-Event-ID` like a browser would, backing off
 * to 15 s; the server replays whatever was missed from its event log.
 */
export function stream(path, { onEvent, onState = () => {}, after = null }) {
  let lastId = after;
  let stopped = false;
  let controller = null;

  async function connectOnce() {
    controller = new AbortController();
    const extra = { Accept: "text/event-stream" };
    if (lastId !== null) extra["Last-Event-ID"] = String(lastId);
    const response = await fetch(path, { headers: headers(extra), signal: controller.signal, cache: "no-store" });
    if (response.status === 401) {
      onUnauthorized();
      stopped = true;
      return;
    }
    if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let event = { type: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let match;
      // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
      while ((match = /\r\n|\n|\r(?!$)/.exec(buffer))) {
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        if (line === "") {
          if (event.data.length) dispatch(event);
          event = { type: "message", data: [], id: null };
          continue;
        }
        if (line.startsWith(":")) continue; // keep-alive ping
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.type = val;
        else if (field === "data") event.data.push(val);
        else if (field === "id") event.id = val;
      }
    }
  }

  function dispatch(event) {
    if (event.id !== null && /^\d+$/.test(event.id)) lastId = Number(event.id);
    let data = {};
    try {
      data = JSON.parse(event.data.join("\n"));
    } catch {
      data = { raw: event.data.join("\n") };
    }
    onEvent(event.type, data);
  }

  (async () => {
    let delay = 1000;
    while (!stopped) {
      try {
        await connectOnce();
        delay = 1000;
      } catch {
        // network error or server restart: fall through to a reconnect
      }
      if (stopped) break;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  })();

  return {
    close() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}
