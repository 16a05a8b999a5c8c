// The seller desk's shared pieces: messages in the page's language, field errors, carriers,
// and every `form[data-api]` (farm, product, session) sent through api.js.
//
// A form names its endpoint (data-api), its method (data-method) and where to go once saved
// (data-next); data-multipart sends FormData, which a photo upload needs. Inputs are named as
// the API names its fields, so the server's `fields` errors land beside the right input.

import { api, ApiError } from "./api.js";

const messages = document.querySelector(".desk-messages")?.dataset ?? {};

/** A message from the page's data-msg-* attributes (translated by the template). */
export function msg(name, fallback = "") {
  return messages[name] ?? fallback;
}

/** "{n} selected" with {n} filled in. */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

/** What to tell the seller about a failed call. */
export function errorText(err) {
  if (err instanceof ApiError && err.code === "network") return msg("msgNetwork", "Offline.");
  return `${msg("msgFailed", "Failed:")} ${err?.message || err}`;
}

export function setStatus(element, text, kind = "") {
  if (!element) return;
  element.textContent = text;
  element.dataset.kind = kind;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error[data-generated]")) el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** Each of the API's `fields` messages under its input (or its fieldset); returns how many. */
export function showFieldErrors(form, fields) {
  let shown = 0;
  for (const [name, problems] of Object.entries(fields || {})) {
    const text = Array.isArray(problems) ? problems.map(String).join(" ") : JSON.stringify(problems);
    const field = form.querySelector(`[data-field="${CSS.escape(name)}"]`) || form.elements.namedItem(name);
    const target = field instanceof RadioNodeList ? field[0] : field;
    if (!target) continue;
    const note = document.createElement("span");
    note.className = "field-error";
    note.dataset.generated = "";
    note.id = `error-${name}-${Math.random().toString(36).slice(2, 8)}`;
    note.textContent = text;
    if (target.matches("input, select, textarea")) {
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-describedby", note.id);
      (target.closest("label") || target).after(note);
    } else {
      target.append(note);
    }
    if (shown === 0) target.focus?.();
    shown += 1;
  }
  return shown;
}

function localTime(value) {
  // <input type=datetime-local> is the seller's wall clock; the API wants an instant.
  return value ? new Date(value).toISOString() : null;
}

/** The form's fields as the API wants them: JSON, or FormData for uploads. */
export function formBody(form) {
  const multipart = "multipart" in form.dataset;
  const json = {};
  const data = new FormData();
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.matches("button, fieldset")) continue;
    let value;
    if (el.type === "checkbox") {
      if (form.querySelectorAll(`input[type=checkbox][name="${CSS.escape(el.name)}"]`).length > 1) {
        if (el.checked) (json[el.name] ||= []).push(el.value);
        if (el.checked) data.append(el.name, el.value);
        continue;
      }
      value = el.checked;
    } else if (el.type === "file") {
      if (el.files.length) data.append(el.name, el.files[0]);
      continue;
    } else if (el.type === "datetime-local") {
      value = localTime(el.value);
    } else if (el.type === "date") {
      value = el.value || null;
    } else {
      value = el.value;
    }
    json[el.name] = value;
    data.append(el.name, value === null ? "" : String(value));
  }
  return multipart ? data : json;
}

async function submitForm(form, event) {
  event.preventDefault();
  const status = form.querySelector(".form-status");
  const button = form.querySelector("button[type=submit]");
  clearErrors(form);
  const file = form.querySelector("input[type=file][data-max-bytes]");
  if (file?.files.length && file.files[0].size > Number(file.dataset.maxBytes)) {
    showFieldErrors(form, { [file.name]: [file.dataset.msgTooBig] });
    return;
  }
  setStatus(status, msg("msgSaving", "…"));
  if (button) button.disabled = true;
  try {
    const saved = await api(form.dataset.api, { method: form.dataset.method || "POST", body: formBody(form) });
    setStatus(status, msg("msgSaved", "Saved."), "ok");
    form.dispatchEvent(new CustomEvent("desk:saved", { detail: saved }));
    if (form.dataset.next) location.assign(form.dataset.next);
  } catch (err) {
    const marked = err instanceof ApiError ? showFieldErrors(form, err.fields) : 0;
    setStatus(status, marked ? `${msg("msgFix")} ${err.message}` : errorText(err), "error");
  } finally {
    if (button) button.disabled = false;
  }
}

let carriers = null;

/** Carriers from GET /api/carriers/, fetched once per page, as <option>s in each select. */
export async function fillCarriers(...selects) {
  carriers ||= api("/api/carriers/").then((list) => (Array.isArray(list) ? list : list?.results || []));
  const list = await carriers;
  for (const select of selects) {
    if (select.options.length) continue;
    for (const carrier of list) select.add(new Option(carrier.name, carrier.code));
  }
  return list;
}

for (const form of document.querySelectorAll("form[data-api]")) {
  form.addEventListener("submit", (event) => submitForm(form, event));
}

// A chosen photo shows at once, before it is uploaded.
for (const input of document.querySelectorAll("input[type=file][name=photo]")) {
  input.addEventListener("change", () => {
    const preview = input.form.querySelector("[data-photo-preview]");
    if (!preview || !input.files.length) return;
    if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(input.files[0]);
    preview.hidden = false;
  });
}
