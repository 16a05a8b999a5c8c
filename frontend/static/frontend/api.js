// One way for every page to call the REST API: JSON in and out, the session cookie with its
// CSRF token, and the contract's error shape turned into one exception the page can show.
//
//   import { api, ApiError, newKey } from "./api.js";
//   const order = await api("/api/orders/", { method: "POST", body, idempotencyKey: key });

/** A refusal in the contract's shape: {"error": {"code", "message", "fields"?}}. */
export class ApiError extends Error {
  constructor(status, code, message, fields = null, retryAfterS = null, detail = {}) {
    super(message);
    this.detail = detail; // the whole error object: some codes carry more (`left`, ...)
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfterS = retryAfterS;
  }
}

/** The CSRF token Django set as a cookie; unsafe methods must echo it in a header. */
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** A fresh key for one user intent (a checkout), reused when that intent is retried. */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Call the API. `body` is sent as JSON unless it is FormData (uploads). Resolves to the
 * parsed JSON (or null for 204), or to the Response itself when `raw` is set (PDF, CSV).
 * Rejects with ApiError; a network failure becomes code "network" (status 0), so pages
 * can tell "you are offline" from "the server said no".
 */
export async function api(path, { method = "GET", body, headers = {}, idempotencyKey, raw = false, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin", signal };
  if (UNSAFE.has(method)) init.headers["X-CSRFToken"] = csrfToken();
  if (idempotencyKey) init.headers["Idempotency-Key"] = idempotencyKey;
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError(0, "network", navigator.onLine === false ? "offline" : String(err?.message || err));
  }
  if (response.ok && raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.ok) return data;
  const error = data?.error || {};
  const header = response.headers.get("Retry-After");
  const retry = error.retry_after_s ?? (header ? Number(header) : null);
  throw new ApiError(
    response.status,
    error.code || (response.status >= 500 ? "unavailable" : "invalid"),
    error.message || response.statusText,
    error.fields || null,
    retry !== null && Number.isFinite(retry) ? retry : null,
    error,
  );
}

/** Where to send someone who must sign in first, so they come back to this very page. */
export function loginUrl(next = location.pathname + location.search + location.hash) {
  return `/login/?next=${encodeURIComponent(next)}`;
}
