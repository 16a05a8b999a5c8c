// Outbound webhooks: the seller's endpoints (add, enable or disable, delete), the signing
// secret shown once, and each endpoint's deliveries log with "send again".
// Everything on screen comes from the REST API; user text goes in with textContent only.

import { api } from "./api.js";
import { errorText, setStatus } from "./desk.js";

const BASE = "/api/webhook-endpoints/";
const rows = (reply) => (Array.isArray(reply) ? reply : reply?.results || []);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function endpointsPage(root) {
  const text = root.dataset;
  const list = root.querySelector("[data-endpoints]");
  const status = root.querySelector("[data-list-status]");
  const form = root.querySelector("[data-endpoint-form]");
  const secretBox = root.querySelector("[data-secret-box]");

  function render(endpoint) {
    const state = endpoint.is_active ? text.msgActive : text.msgDisabled;
    return el(
      "li",
      { dataset: { endpoint: endpoint.id }, className: endpoint.is_active ? "" : "off" },
      el("span", { className: `badge ${endpoint.is_active ? "badge-on" : "badge-off"}`, textContent: state }),
      el("strong", { className: "desk-url", textContent: endpoint.url }),
      endpoint.description ? el("span", { className: "muted", textContent: endpoint.description }) : null,
      el("span", { className: "muted desk-topics", textContent: (endpoint.events || []).join(", ") }),
      endpoint.disabled_reason ? el("span", { className: "field-error", textContent: endpoint.disabled_reason }) : null,
      el(
        "span",
        { className: "desk-actions" },
        el("a", { href: `/desk/webhooks/${endpoint.id}/`, textContent: text.msgDeliveries }),
        el("button", {
          type: "button",
          textContent: endpoint.is_active ? text.msgDisable : text.msgEnable,
          dataset: { toggle: endpoint.id, active: endpoint.is_active ? "1" : "" },
        }),
        el("button", { type: "button", className: "danger", textContent: text.msgDelete, dataset: { remove: endpoint.id } }),
      ),
    );
  }

  async function load() {
    setStatus(status, text.msgLoading);
    try {
      const endpoints = rows(await api(BASE));
      list.replaceChildren(...endpoints.map(render));
      setStatus(status, endpoints.length ? "" : text.msgEmpty);
    } catch (err) {
      setStatus(status, errorText(err), "error");
    }
  }

  form.addEventListener("desk:saved", (event) => {
    const secret = event.detail?.secret;
    if (secret) {
      secretBox.querySelector("[data-secret]").textContent = secret;
      secretBox.hidden = false;
    }
    form.reset();
    load();
  });

  secretBox.querySelector("[data-copy]").addEventListener("click", async (event) => {
    const code = secretBox.querySelector("[data-secret]");
    try {
      await navigator.clipboard.writeText(code.textContent);
    } catch {
      getSelection().selectAllChildren(code); // no clipboard access: selected, ready to copy
      return;
    }
    event.target.textContent = text.msgCopied;
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    try {
      if (button.dataset.toggle) {
        button.disabled = true;
        await api(`${BASE}${button.dataset.toggle}/`, { method: "PATCH", body: { is_active: !button.dataset.active } });
      } else if (button.dataset.remove) {
        if (!window.confirm(text.msgConfirmDelete)) return;
        await api(`${BASE}${button.dataset.remove}/`, { method: "DELETE" });
      } else {
        return;
      }
      await load();
    } catch (err) {
      setStatus(status, errorText(err), "error");
      button.disabled = false;
    }
  });

  load();
}

function deliveriesPage(root) {
  const text = root.dataset;
  const id = root.dataset.endpoint;
  const body = root.querySelector("[data-deliveries]");
  const status = root.querySelector("[data-list-status]");
  const states = {
    pending: text.msgPending,
    delivered: text.msgDelivered,
    failed: text.msgFailed,
    gave_up: text.msgGaveUp,
  };

  function attempts(delivery) {
    const list = el("ol", { className: "desk-attempts" });
    for (const attempt of delivery.attempts || []) {
      const when = attempt.at ? new Date(attempt.at).toLocaleString() : "";
      const code = attempt.response_code ?? text.msgNoResponse;
      const parts = [when, String(code), attempt.duration_ms != null ? `${attempt.duration_ms} ms` : "", attempt.error || ""];
      list.append(el("li", { textContent: parts.filter(Boolean).join(" · ") }));
    }
    return list;
  }

  function render(delivery) {
    return el(
      "tr",
      { dataset: { delivery: delivery.id } },
      el("td", {}, el("code", { textContent: delivery.topic }), el("br"), el("span", { className: "muted", textContent: delivery.event_id })),
      el("td", {}, el("span", { className: `badge delivery-${delivery.status}`, textContent: states[delivery.status] || delivery.status })),
      el("td", {}, attempts(delivery)),
      el("td", {}, el("button", { type: "button", textContent: text.msgResend, dataset: { resend: delivery.id } })),
    );
  }

  const older = root.querySelector("[data-older]");
  const PAGE = 50; // the API's page of deliveries, newest first; ?before=<id> pages back

  async function load() {
    try {
      const [endpoint, deliveries] = await Promise.all([api(`${BASE}${id}/`), api(`${BASE}${id}/deliveries/`)]);
      root.querySelector("[data-endpoint-url]").textContent = endpoint.url;
      const list = rows(deliveries);
      body.replaceChildren(...list.map(render));
      older.hidden = list.length < PAGE;
      if (!list.length) setStatus(status, text.msgEmpty);
    } catch (err) {
      setStatus(status, err?.status === 404 ? text.msgNotFound : errorText(err), "error");
    }
  }

  older.addEventListener("click", async () => {
    const last = body.lastElementChild?.dataset.delivery;
    if (!last) return;
    older.disabled = true;
    try {
      const list = rows(await api(`${BASE}${id}/deliveries/?before=${encodeURIComponent(last)}`));
      body.append(...list.map(render));
      older.hidden = list.length < PAGE;
    } catch (err) {
      setStatus(status, errorText(err), "error");
    } finally {
      older.disabled = false;
    }
  });

  body.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-resend]");
    if (!button) return;
    button.disabled = true;
    try {
      await api(`${BASE}${id}/deliveries/${button.dataset.resend}/resend/`, { method: "POST" });
      setStatus(status, text.msgResent, "ok");
      await load();
    } catch (err) {
      setStatus(status, errorText(err), "error");
      button.disabled = false;
    }
  });

  load();
}

const endpoints = document.querySelector(".desk-webhooks");
if (endpoints) endpointsPage(endpoints);
const deliveries = document.querySelector(".desk-deliveries");
if (deliveries) deliveriesPage(deliveries);
