// One order: the buttons for what the seller may do now (the API's `actions` decide, not this
// page), shipping with a carrier and tracking number, and a reload to show the new history.

import { api } from "./api.js";
import { fillCarriers, setStatus } from "./desk.js";
import { errorText, messages } from "./i18n.js";
import { showErrors } from "./ui.js";

const root = document.querySelector("[data-order-detail]");
const id = root.dataset.orderDetail;
const msg = messages(root);
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
    setStatus(status, errorText(err, msg), "error");
  }
}

async function run(path, body, form = null) {
  setStatus(status, "…");
  try {
    await api(`/api/orders/${id}/${path}/`, { method: "POST", body });
    location.reload();
  } catch (err) {
    // The order moved on (another tab, the carrier): say so, then show it as it is now.
    if (err?.code === "conflict") setTimeout(() => location.reload(), 1500);
    setStatus(status, form ? showErrors(form, err, msg) : errorText(err, msg), "error");
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
  showErrors(shipForm, null);
  run("ship", {
    carrier: shipForm.elements.carrier.value,
    tracking_number: shipForm.elements.tracking_number.value.trim(),
  }, shipForm);
});

showActions();
