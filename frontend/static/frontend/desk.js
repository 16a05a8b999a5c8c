// The seller desk's shared pieces: the status line, carriers, and every `form[data-api]`
// (farm, product, session) sent through api.js. Words come from data-msg-* (i18n.js) and
// refusals are shown the way every page shows them (ui.js showErrors, i18n.js errorText).
//
// A form names its endpoint (data-api), its method (data-method) and where to go once saved
// (data-next); data-multipart sends FormData, which a photo upload needs. Inputs are named as
// the API names its fields, so the server's `fields` errors land beside the right input.

import { api } from "./api.js";
import { messages } from "./i18n.js";
import { showErrors } from "./ui.js";

/** The desk's own words (saving, saved), from the layout's .desk-messages. */
const msg = messages(document.querySelector(".desk-messages"));

/** A status line's text, and its kind ("ok", "error" or "") for the colour. */
export function setStatus(element, text, kind = "") {
  if (!element) return;
  element.textContent = text;
  element.dataset.kind = kind;
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
  showErrors(form, null);
  const file = form.querySelector("input[type=file][data-max-bytes]");
  if (file?.files.length && file.files[0].size > Number(file.dataset.maxBytes)) {
    const tooBig = { code: "invalid", fields: { [file.name]: [messages(file)("too-big")] } };
    setStatus(status, showErrors(form, tooBig, msg), "error");
    return;
  }
  setStatus(status, msg("saving") || "…");
  if (button) button.disabled = true;
  try {
    const saved = await api(form.dataset.api, { method: form.dataset.method || "POST", body: formBody(form) });
    setStatus(status, msg("saved"), "ok");
    form.dispatchEvent(new CustomEvent("desk:saved", { detail: saved }));
    if (form.dataset.next) location.assign(form.dataset.next);
  } catch (err) {
    setStatus(status, showErrors(form, err, msg), "error");
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
