// Small DOM helpers every page shares: build elements safely (text is only ever
// textContent) and show a refusal from the API on a form: each of error.fields beside its
// input, and one sentence for the whole form in the user's language (i18n.js errorText).
//
//   import { el, showErrors, formValues } from "./ui.js";

import { errorText } from "./i18n.js";

/** An element with attributes, then children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** Take away what showFieldErrors put on the form. */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error]")) slot.textContent = "";
  for (const note of form.querySelectorAll(".field-error[data-generated]")) note.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/**
 * Each of the API's error.fields (as the server words them) beside its input: in the
 * form's [data-error=<field>] slot when the template has one, else in a note made after
 * the input's label (or inside a [data-field=<field>] group). The input is marked
 * aria-invalid and the first one focused. Returns the fields it could not place.
 */
export function showFieldErrors(form, fields) {
  const unplaced = {};
  let first = null;
  for (const [name, problems] of Object.entries(fields || {})) {
    const text = [].concat(problems).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
    const named = form.querySelector(`[data-field="${CSS.escape(name)}"]`) || form.elements.namedItem(name);
    const control = named instanceof RadioNodeList ? named[0] : named;
    let slot = form.querySelector(`[data-error="${CSS.escape(name)}"]`);
    if (!slot && control) {
      slot = el("span", { class: "field-error", "data-generated": "", id: `error-${name}-${Math.random().toString(36).slice(2, 8)}` });
      if (control.matches("input, select, textarea")) (control.closest("label") || control).after(slot);
      else control.append(slot);
    }
    if (!slot) {
      unplaced[name] = text;
      continue;
    }
    slot.textContent = text;
    if (control?.matches("input, select, textarea")) {
      control.setAttribute("aria-invalid", "true");
      if (slot.id) control.setAttribute("aria-describedby", slot.id);
    }
    first ||= control;
  }
  first?.focus?.();
  return unplaced;
}

/**
 * Clear the form's errors, then show `error` (an ApiError, or null to only clear): its
 * fields beside their inputs and, in [data-error=form], the sentence for the whole form
 * from the page's messages `msg` (errorText). Fields with no input on this form are
 * named after that sentence, so nothing the server said is lost. Returns the sentence.
 */
export function showErrors(form, error, msg) {
  clearErrors(form);
  if (!error) return "";
  const hasFields = error.fields && Object.keys(error.fields).length > 0;
  const unplaced = Object.entries(showFieldErrors(form, error.fields));
  const said = errorText(hasFields && !unplaced.length ? { code: "fields" } : error, msg);
  const sentence = [said, ...unplaced.map(([name, text]) => `${name}: ${text}`)].join(" ");
  const slot = form.querySelector('[data-error="form"]');
  if (slot) slot.textContent = sentence;
  return sentence;
}

/** A form's values as an object of trimmed strings; multi-selects become arrays. */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name || element.disabled) continue;
    if (element.type === "select-multiple") {
      values[element.name] = [...element.selectedOptions].map((o) => o.value);
    } else if (element.type === "radio" || element.type === "checkbox") {
      if (element.checked) values[element.name] = element.value;
    } else if (element.tagName !== "BUTTON") {
      values[element.name] = element.value.trim();
    }
  }
  return values;
}
