// Orders to handle: pick rows, then accept, pack, ship (a tracking number each) or cancel them
// in one POST /api/orders/bulk/; each row shows what happened to it. The list itself is
// server-rendered a page at a time, so this module only touches the rows on screen.

import { api } from "./api.js";
import { fillCarriers, setStatus } from "./desk.js";
import { errorText, messages } from "./i18n.js";

const root = document.querySelector(".desk-orders");
const msg = messages(root);
const labels = JSON.parse(document.getElementById("desk-status-labels")?.textContent || "{}");
const status = root.querySelector("[data-bulk-status]");
const count = root.querySelector("[data-selected-count]");
const all = root.querySelector("[data-select-all]");
const panel = root.querySelector("[data-ship-panel]");
const picks = () => [...root.querySelectorAll("input[data-pick]")];
const picked = () => picks().filter((box) => box.checked).map((box) => Number(box.value));
const row = (id) => root.querySelector(`tr[data-order="${id}"]`);

function updateCount() {
  const n = picked().length;
  if (count) count.textContent = n ? msg("selected", { n }) : "";
  if (all) {
    all.checked = n > 0 && n === picks().length;
    all.indeterminate = n > 0 && n < picks().length;
  }
}

/** Why the server refused one row: its field's own words if it named one, else our sentence. */
function refusal(error) {
  const field = Object.values(error?.fields || {})[0];
  return field ? [].concat(field).join(" ") : errorText(error, msg);
}

function markRow(result) {
  const tr = row(result.id);
  if (!tr) return;
  const cell = tr.querySelector("[data-result]");
  tr.classList.toggle("refused", !result.ok);
  tr.classList.toggle("done", result.ok);
  if (result.ok) {
    cell.textContent = "✓";
    if (result.status) {
      tr.dataset.status = result.status;
      const badge = tr.querySelector("[data-status-label]");
      badge.textContent = labels[result.status] || result.status;
      badge.className = `badge status-${result.status}`;
    }
    tr.querySelector("input[data-pick]").checked = false;
  } else {
    cell.textContent = refusal(result.error);
  }
}

async function bulk(action, orders) {
  setStatus(status, msg("working"));
  for (const button of root.querySelectorAll("[data-bulk], [data-ship-confirm]")) button.disabled = true;
  try {
    const reply = await api("/api/orders/bulk/", { method: "POST", body: { action, orders } });
    const results = reply?.results || [];
    results.forEach(markRow);
    const ok = results.filter((r) => r.ok).length;
    setStatus(status, msg("done", { ok, failed: results.length - ok }), ok === results.length ? "ok" : "error");
    updateCount();
    return results;
  } catch (err) {
    setStatus(status, errorText(err, msg), "error");
    return null;
  } finally {
    for (const button of root.querySelectorAll("[data-bulk], [data-ship-confirm]")) button.disabled = false;
  }
}

async function openShipPanel(ids) {
  const list = panel.querySelector("[data-ship-rows]");
  const template = root.querySelector("template[data-ship-row]");
  list.replaceChildren();
  for (const id of ids) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.order = id;
    item.querySelector("[data-order-label]").textContent = `#${id}`;
    list.append(item);
  }
  panel.hidden = false;
  try {
    await fillCarriers(panel.querySelector("[data-carrier-all]"), ...list.querySelectorAll("[data-carrier]"));
  } catch (err) {
    setStatus(status, errorText(err, msg), "error");
  }
  list.querySelector("[data-tracking]")?.focus();
}

async function confirmShip() {
  const items = [...panel.querySelectorAll("[data-ship-rows] > li")];
  const orders = items.map((item) => ({
    id: Number(item.dataset.order),
    carrier: item.querySelector("[data-carrier]").value,
    tracking_number: item.querySelector("[data-tracking]").value.trim(),
  }));
  const results = await bulk("ship", orders);
  if (!results) return;
  for (const result of results) {
    const item = panel.querySelector(`[data-ship-rows] > li[data-order="${result.id}"]`);
    if (!item) continue;
    if (result.ok) {
      item.remove();
      continue;
    }
    item.querySelector("[data-error]").textContent = refusal(result.error);
    item.querySelector("[data-tracking]").setAttribute("aria-invalid", "true");
  }
  if (!panel.querySelector("[data-ship-rows] > li")) panel.hidden = true;
}

root.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-all]")) {
    for (const box of picks()) box.checked = event.target.checked;
  }
  if (event.target.matches("[data-carrier-all]")) {
    for (const select of panel.querySelectorAll("[data-carrier]")) select.value = event.target.value;
  }
  updateCount();
});

root.addEventListener("input", (event) => {
  if (event.target.matches("[data-tracking]")) {
    event.target.value = event.target.value.toUpperCase();
    event.target.removeAttribute("aria-invalid");
  }
});

root.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.matches("[data-ship-close]")) {
    panel.hidden = true;
    return;
  }
  if (button.matches("[data-ship-confirm]")) {
    confirmShip();
    return;
  }
  const action = button.dataset.bulk;
  if (!action) return;
  const ids = picked();
  if (!ids.length) {
    setStatus(status, msg("none"), "error");
    return;
  }
  if (action === "ship") {
    openShipPanel(ids);
  } else if (action !== "cancel" || window.confirm(msg("confirm-cancel"))) {
    bulk(action, ids.map((id) => ({ id })));
  }
});

updateCount();
