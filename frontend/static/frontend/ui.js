// Small DOM helpers the host and promoter pages share: build elements safely (text is only
// ever textContent) and show the API's per-field errors (error.fields) beside their inputs.
//
//   import { el, showErrors, formValues } from "./ui.js";

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

/**
 * Clear a form's error slots ([data-error=<field>]), then show an ApiError: each of
 * error.fields beside its input (marked aria-invalid), anything else in [data-error=form].
 */
export function showErrors(form, error) {
  for (const slot of form.querySelectorAll("[data-error]")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  if (!error) return;
  let placed = false;
  for (const [name, messages] of Object.entries(error.fields || {})) {
    const slot = form.querySelector(`[data-error="${CSS.escape(name)}"]`);
    if (!slot) continue;
    slot.textContent = [].concat(messages).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
    form.querySelector(`[name="${CSS.escape(name)}"]`)?.setAttribute("aria-invalid", "true");
    placed = true;
  }
  if (!placed) {
    const slot = form.querySelector('[data-error="form"]');
    if (slot) slot.textContent = error.message || String(error);
  }
  form.querySelector('[aria-invalid="true"]')?.focus();
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
