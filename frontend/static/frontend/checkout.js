// The live page's checkout sheet: quantity, coupon, address (remembered on this device),
// payment method, a preview of the totals, then POST /api/orders/ with an Idempotency-Key
// (one per checkout attempt, the same one when that attempt is retried: a double tap or a
// dropped connection never places a second order), then the server's totals and how to pay.

import { api, newKey } from "./api.js";
import { everySecond, formatLeft } from "./clock.js";
import { errorText, messages } from "./i18n.js";
import { cents, couponPreview, decimal } from "./money.js";

const ADDRESS_KEY = "talad.address";
const ADDRESS_FIELDS = ["name", "phone", "line1", "line2", "subdistrict", "district", "province", "postcode", "note"];

function readAddress() {
  try {
    return JSON.parse(localStorage.getItem(ADDRESS_KEY)) || {};
  } catch {
    return {};
  }
}

/**
 * `page`: {sessionId, farm, shipping (decimal string), serverNow(), wallet() -> coupons
 * known on this page (claimed here, with their terms), statusLabels}.
 */
export function mountCheckout(dialog, page) {
  const form = dialog.querySelector("[data-checkout]");
  const placed = dialog.querySelector("[data-placed]");
  const $ = (name) => dialog.querySelector(`[data-${name}]`);
  const msg = messages(dialog);
  // {product, name, unitPrice, currency, unit, left}: the live page's own object, whose
  // `left` its stock events keep current while the sheet is open.
  let item = null;
  let coupons = new Map(); // claim id -> terms
  let attempt = null; // {key, body}: the Idempotency-Key of this checkout attempt
  let stopDue = () => {};

  function money(hundredths) {
    return `${decimal(hundredths)} ${item.currency}`;
  }

  function payload() {
    const data = new FormData(form);
    const address = {};
    for (const field of ADDRESS_FIELDS) address[field] = (data.get(field) || "").trim();
    const body = {
      session: page.sessionId,
      items: [{ product: item.product, qty: Number(data.get("qty")) || 1 }],
      address,
      payment_method: data.get("payment_method"),
    };
    if (data.get("claim")) body.claim = Number(data.get("claim"));
    return body;
  }

  function preview() {
    const qty = Math.max(1, Math.min(1000, Number(form.elements.qty.value) || 1));
    const subtotal = cents(item.unitPrice) * qty;
    const shipping = cents(page.shipping) ?? 0;
    const claim = form.elements.claim.value;
    const terms = coupons.get(claim);
    const note = $("co-coupon-note");
    let discount = 0;
    note.textContent = "";
    if (terms) {
      const result = couponPreview(terms, {
        amount: subtotal, currency: item.currency, product: item.product, farm: page.farm,
        session: page.sessionId,
      });
      discount = result.discount;
      const vars = { code: terms.code, amount: `${terms.min_spend} ${terms.currency}` };
      note.textContent = result.ok ? msg("coupon-ok", vars) : msg(`coupon-${result.reason}`, vars);
    }
    $("co-subtotal").textContent = money(subtotal);
    $("co-discount").textContent = `−${money(discount)}`;
    $("co-shipping").textContent = money(shipping);
    $("co-total").textContent = money(subtotal - discount + shipping);
  }

  async function loadCoupons(preferred) {
    coupons = new Map(page.wallet().map((c) => [String(c.claim), c]));
    try {
      const mine = await api("/api/me/coupons/?page_size=200");
      const now = page.serverNow();
      for (const c of mine.results || mine) {
        if (c.status !== "claimed" || Date.parse(c.expires_at) <= now) continue;
        coupons.set(String(c.id), { ...c, claim: c.id });
      }
    } catch {
      // offline or signed out: the coupons claimed on this page still work
    }
    const select = form.elements.claim;
    const keep = select.value || (preferred ? String(preferred) : "");
    select.replaceChildren(new Option(msg("no-coupon"), ""));
    for (const [id, c] of coupons) {
      const off = c.kind === "percent" ? `${c.value}%` : `${c.value} ${c.currency}`;
      select.append(new Option(`${c.code} · −${off}`, id));
    }
    select.value = coupons.has(keep) ? keep : "";
    preview();
  }

  function open(product, preferredClaim = null) {
    item = product;
    attempt = null;
    form.hidden = false;
    placed.hidden = true;
    $("co-error").textContent = "";
    $("co-name").textContent = item.name;
    $("co-price").textContent = `${item.unitPrice} ${item.currency} / ${item.unit}`;
    form.elements.qty.max = String(item.left > 0 ? Math.min(item.left, 1000) : 1000);
    form.elements.qty.value = "1";
    const saved = readAddress();
    for (const field of ADDRESS_FIELDS) {
      if (saved[field] && !form.elements[field].value) form.elements[field].value = saved[field];
    }
    preview();
    dialog.showModal();
    loadCoupons(preferredClaim);
  }

  function showError(err) {
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const fields = err.fields || {};
    for (const name of Object.keys({ ...fields, ...(fields.address || {}) })) {
      const control = form.elements[name];
      if (control instanceof Element) control.setAttribute("aria-invalid", "true");
    }
    // `left`: the stock events keep the item's units left current (ApiError carries no extras).
    $("co-error").textContent = errorText(err, msg, { vars: { left: item.left ?? "" } });
  }

  function showPlaced(order) {
    form.hidden = true;
    placed.hidden = false;
    $("placed-id").textContent = `#${order.id}`;
    $("placed-status").textContent = page.statusLabels[order.status] || order.status;
    const m = (v) => `${v} ${order.currency}`;
    $("placed-subtotal").textContent = m(order.subtotal);
    $("placed-discount").textContent = `−${m(order.discount)}`;
    $("placed-shipping").textContent = m(order.shipping_fee);
    $("placed-total").textContent = m(order.total);
    $("placed-link").href = `/me/orders/${order.id}/`;
    const pay = order.payment || {};
    $("pay-promptpay").hidden = !pay.qr_url;
    $("pay-sandbox").hidden = !pay.sandbox_url;
    $("pay-cod").hidden = order.payment_method !== "cod";
    if (pay.qr_url) $("pay-qr").src = pay.qr_url;
    if (pay.sandbox_url) $("pay-sandbox-link").href = pay.sandbox_url;
    $("pay-due-sandbox").hidden = Boolean(pay.qr_url); // the QR block shows the deadline
    stopDue();
    const due = Date.parse(order.payment_due_at || pay.due_at || "");
    if (order.status === "pending_payment" && Number.isFinite(due)) {
      stopDue = everySecond(() => {
        const left = due - page.serverNow();
        const text = left > 0 ? msg("pay-within", { time: formatLeft(left) }) : msg("pay-late");
        $("pay-due").textContent = text;
        $("pay-due-sandbox").textContent = text;
      });
    }
    placed.querySelector("h2").focus();
  }

  form.addEventListener("input", preview);
  form.addEventListener("change", preview);
  form.addEventListener("click", (event) => {
    const step = event.target.closest("[data-qty-step]");
    if (!step) return;
    const qty = form.elements.qty;
    const next = (Number(qty.value) || 1) + Number(step.dataset.qtyStep);
    qty.value = String(Math.max(1, Math.min(Number(qty.max) || 1000, next)));
    preview();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const body = payload();
    const text = JSON.stringify(body);
    // A retry of the same order reuses its key; a changed order is a new attempt.
    if (!attempt || attempt.body !== text) attempt = { key: newKey(), body: text };
    const button = $("co-place");
    button.disabled = true;
    $("co-error").textContent = msg("placing");
    let order;
    try {
      order = await api("/api/orders/", { method: "POST", body, idempotencyKey: attempt.key });
    } catch (err) {
      showError(err);
      return;
    } finally {
      button.disabled = false;
    }
    attempt = null;
    $("co-error").textContent = "";
    const address = {};
    for (const field of ADDRESS_FIELDS) address[field] = body.address[field];
    localStorage.setItem(ADDRESS_KEY, JSON.stringify(address));
    showPlaced(order);
  });

  dialog.addEventListener("close", () => stopDue());
  return { open };
}
