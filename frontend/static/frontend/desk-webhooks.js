// Outbound webhooks: the seller's endpoints (add, enable or disable, delete), the signing
// secret shown once, and each endpoint's deliveries log with "send again".
// Everything on screen comes from the REST API; user text goes in with textContent only.

import { api } from "./api.js";
import { setStatus } from "./desk.js";
import { errorText, messages } from "./i18n.js";
import { el } from "./ui.js";

const BASE = "/api/webhook-endpoints/";
const rows = (reply) => (Array.isArray(reply) ? reply : reply?.results || []);

function endpointsPage(root) {
  const msg = messages(root);
  const list = root.querySelector("[data-endpoints]");
  const status = root.querySelector("[data-list-status]");
  const form = root.querySelector("[data-endpoint-form]");
  const secretBox = root.querySelector("[data-secret-box]");

  function render(endpoint) {
    const state = endpoint.is_active ? msg("active") : msg("disabled");
    return el(
      "li",
      { "data-endpoint": endpoint.id, class: endpoint.is_active ? "" : "off" },
      el("span", { class: `badge ${endpoint.is_active ? "badge-on" : "badge-off"}`, textContent: state }),
      el("strong", { class: "desk-url", textContent: endpoint.url }),
      endpoint.description ? el("span", { class: "muted", textContent: endpoint.description }) : null,
      el("span", { class: "muted desk-topics", textContent: (endpoint.events || []).join(", ") }),
      endpoint.disabled_reason ? el("span", { class: "field-error", textContent: endpoint.disabled_reason }) : null,
      el(
        "span",
        { class: "desk-actions" },
        el("a", { href: `/desk/webhooks/${endpoint.id}/`, textContent: msg("deliveries") }),
        el("button", {
          type: "button",
          textContent: endpoint.is_active ? msg("disable") : msg("enable"),
          "data-toggle": endpoint.id,
          "data-active": endpoint.is_active ? "1" : "",
        }),
        el("button", { type: "button", class: "danger", textContent: msg("delete"), "data-remove": endpoint.id }),
      ),
    );
  }

  async function load() {
    setStatus(status, msg("loading"));
    try {
      const endpoints = rows(await api(BASE));
      list.replaceChildren(...endpoints.map(render));
      setStatus(status, endpoints.length ? "" : msg("empty"));
    } catch (err) {
      setStatus(status, errorText(err, msg), "error");
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
    event.target.textContent = msg("copied");
  });

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    try {
      if (button.dataset.toggle) {
        button.disabled = true;
        await api(`${BASE}${button.dataset.toggle}/`, { method: "PATCH", body: { is_active: !button.dataset.active } });
      } else if (button.dataset.remove) {
        if (!window.confirm(msg("confirm-delete"))) return;
        await api(`${BASE}${button.dataset.remove}/`, { method: "DELETE" });
      } else {
        return;
      }
      await load();
    } catch (err) {
      setStatus(status, errorText(err, msg), "error");
      button.disabled = false;
    }
  });

  load();
}

function deliveriesPage(root) {
  const msg = messages(root);
  const id = root.dataset.endpoint;
  const body = root.querySelector("[data-deliveries]");
  const status = root.querySelector("[data-list-status]");
  const states = {
    pending: msg("pending"),
    delivered: msg("delivered"),
    failed: msg("failed"),
    gave_up: msg("gave-up"),
  };

  function attempts(delivery) {
    const list = el("ol", { class: "desk-attempts" });
    for (const attempt of delivery.attempts || []) {
      const when = attempt.at ? new Date(attempt.at).toLocaleString() : "";
      const code = attempt.response_code ?? msg("no-response");
      const parts = [when, String(code), attempt.duration_ms != null ? `${attempt.duration_ms} ms` : "", attempt.error || ""];
      list.append(el("li", { textContent: parts.filter(Boolean).join(" · ") }));
    }
    return list;
  }

  function render(delivery) {
    return el(
      "tr",
      { "data-delivery": delivery.id },
      el("td", {}, el("code", { textContent: delivery.topic }), el("br"), el("span", { class: "muted", textContent: delivery.event_id })),
      el("td", {}, el("span", { class: `badge delivery-${delivery.status}`, textContent: states[delivery.status] || delivery.status })),
      el("td", {}, attempts(delivery)),
      el("td", {}, el("button", { type: "button", textContent: msg("resend"), "data-resend": delivery.id })),
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
      if (!list.length) setStatus(status, msg("empty"));
    } catch (err) {
      setStatus(status, errorText(err, msg), "error");
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
      setStatus(status, errorText(err, msg), "error");
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
      setStatus(status, msg("resent"), "ok");
      await load();
    } catch (err) {
      setStatus(status, errorText(err, msg), "error");
      button.disabled = false;
    }
  });

  load();
}

const endpoints = document.querySelector(".desk-webhooks");
if (endpoints) endpointsPage(endpoints);
const deliveries = document.querySelector(".desk-deliveries");
if (deliveries) deliveriesPage(deliveries);
