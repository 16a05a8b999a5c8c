// The one way a module gets the words it shows. The page's template translates every
// sentence on the server ({% translate %}, so the .po files hold them all) into data-msg-*
// attributes on the element the module mounts on; no module carries a language, no
// catalogue is fetched, and nothing is executed (the CSP allows no inline script).
//
//   <section data-studio data-msg-camera="{% translate 'Allow the camera…' %}">
//   const msg = messages(root);  msg("camera");  msg("opens-in", { time: "1:05" })
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
 * callers can fall back: msg(`claim-${err.code}`) || msg("claim-other").
 */
export function messages(el) {
  return (name, vars) => fill(el.dataset[`msg${camel(name)}`], vars);
}
