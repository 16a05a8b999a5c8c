// The one way a module gets the words it shows. The page's template translates every
// sentence on the server ({% translate %}, so the .po files hold them all) into data-msg-*
// attributes on the element the module mounts on; no module carries a language, no
// catalogue is fetched, and nothing is executed (the CSP allows no inline script).
//
//   <section data-studio data-msg-camera="{% translate 'Allow the camera…' %}">
//   const msg = messages(root);  msg("camera");  msg("opens-in", { time: "1:05" })
//   errorText(err, msg)                       // a refusal, in the user's language
//
// Placeholders are in braces ({time}, {code}) because Django's %(name)s would be filled
// (or refused) by {% translate %} itself.

/** "{value}% off" + {value: 10} -> "10% off"; unknown placeholders stay as they are. */
export function fill(text, vars = {}) {
  return Object.entries(vars).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, String(v)), text || "");
}

/** "claim-sold_out" -> "ClaimSoldOut": the dataset key of data-…-claim-sold-out. */
export function camel(name) {
  return name.replace(/[-_](\w)/g, (_, c) => c.toUpperCase()).replace(/^\w/, (c) => c.toUpperCase());
}

/**
 * msg(name, vars) reading `el`'s data-msg-<name>; "" when the page has no such message, so
 * callers can fall back: msg("title") || msg("untitled").
 */
export function messages(el) {
  return (name, vars) => fill(el?.dataset?.[`msg${camel(name)}`], vars);
}

/**
 * The sentence to show for a refusal: an ApiError (api.js), a LiveError (socket.js) or the
 * `error` of one row of a bulk reply, all of which carry a `code`. The API's and the
 * socket's `message` is English for developers and is never shown.
 *
 * Looked up, most specific first:
 *   1. the page's  data-msg-<prefix>-<code>   (data-msg-claim-sold-out: what this action means)
 *   2. the site's  data-msg-error-<code>      (base.html's <body>: offline, too fast, busy, …)
 *   3. the page's  data-msg-<prefix>-other    (data-msg-claim-other: this action failed)
 *   4. the site's  data-msg-error-other       (something did not work; try again)
 * so a page writes only the sentences its own actions need, and every page says "you are
 * offline" the same way.
 */
export function errorText(err, msg, { prefix = "error", vars = {} } = {}) {
  const site = messages(globalThis.document?.body);
  const code = typeof err?.code === "string" && /^[a-z_]+$/.test(err.code) ? err.code : "other";
  return (
    msg(`${prefix}-${code}`, vars) ||
    site(`error-${code}`, vars) ||
    msg(`${prefix}-other`, vars) ||
    site("error-other", vars)
  );
}
