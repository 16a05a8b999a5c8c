// One order: the buttons for what the seller may do now (the API's `actions` decide, not this
// page), shipping with a carrier and tracking number, and a reload to show the new history.

import { api, ApiError } from "./api.js";
import { clearErrors, errorText, fillCarriers, setStatus, showFieldErrors } from "./desk.js";

const root = document.querySelector("[data-order-detail]");
const id = root.dataset.orderDetail;
const status = root.querySelector("[data-action-status]");
const shipForm = root.querySelector("[data-ship-form]");

async function showActions() {
  try {
    const order = await api(`/api/orders/${id}/`);
    const actions = new Set(order.actions || []);
    for (const button of root.querySelectorAll("button[data-action]")) {
      button.hidden = !actions.has(button.dataset.action);
    }
    shipForm.hidden = !actions.has("ship");
    if (actions.has("ship")) await fillCarriers(shipForm.querySelector("[data-carrier]"));
  } catch (err) {
    setStatus(status, errorText(err), "error");
  }
}

async function run(path, body, form = null) {
  setStatus(status, "…");
  try {
    await api(`/api/orders/${id}/${path}/`, { method: "POST", body });
    location.reload();
  } catch (err) {
    if (err instanceof ApiError && err.code === "conflict") {
      setStatus(status, root.dataset.msgConflict, "error");
      setTimeout(() => location.reload(), 1500);
      return;
    }
    const marked = form && err instanceof ApiError ? showFieldErrors(form, err.fields) : 0;
    setStatus(status, marked ? err.message : errorText(err), "error");
  }
}

root.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  run(button.dataset.action, {}).finally(() => {
    button.disabled = false;
  });
});

shipForm.addEventListener("input", (event) => {
  if (event.target.name === "tracking_number") event.target.value = event.target.value.toUpperCase();
});

shipForm.addEventListener("submit", (event) => {
  event.preventDefault();
  clearErrors(shipForm);
  run("ship", {
    carrier: shipForm.elements.carrier.value,
    tracking_number: shipForm.elements.tracking_number.value.trim(),
  }, shipForm);
});

showActions();
