// The promoter's console (frontend/templates/frontend/promote.html): campaigns, their form
// (create and edit, errors beside each field from the API's error.fields), pause / resume /
// end, and each campaign's drops. Everything goes through the REST API (api.js).

import { api } from "./api.js";
import { errorText, messages } from "./i18n.js";
import { el, formValues, showErrors } from "./ui.js";

const TWO_TAP_MS = 4000;
const SCOPES = ["farms", "products", "sessions"];
const OPTIONAL_MONEY = ["max_discount"];
const DATES = ["starts_at", "ends_at"];

/** "2026-11-28T18:00" (the browser's local time) for a datetime-local input. */
function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function mountPromote(root) {
  const msg = messages(root);
  const list = root.querySelector("[data-campaigns]");
  const empty = root.querySelector("[data-empty]");
  const notice = root.querySelector("[data-notice]");
  const listError = root.querySelector("[data-list-error]");
  const editor = root.querySelector("[data-editor]");
  const editorTitle = root.querySelector("[data-editor-title]");
  const form = root.querySelector('[data-form="campaign"]');
  const lang = document.documentElement.lang || undefined;
  const count = new Intl.NumberFormat(lang);
  const when = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  const campaigns = new Map();
  let editing = null; // the campaign being edited, or null for a new one

  // ---- the form -----------------------------------------------------------------
  function openEditor(campaign = null) {
    editing = campaign;
    form.reset();
    showErrors(form, null);
    editorTitle.textContent = campaign ? msg("editing") : msg("new");
    form.querySelector("[data-new-only]").hidden = !!campaign;
    form.elements.status.disabled = !!campaign;
    form.elements.funded_by.disabled = !!campaign; // fixed when made
    if (campaign) {
      for (const element of form.elements) {
        const name = element.name;
        if (!name || !(name in campaign)) continue;
        if (SCOPES.includes(name)) {
          const ids = new Set(campaign[name].map(String));
          for (const option of element.options) option.selected = ids.has(option.value);
        } else if (DATES.includes(name)) {
          element.value = toLocalInput(campaign[name]);
        } else if (name !== "status") {
          element.value = campaign[name] ?? "";
        }
      }
    }
    editor.hidden = false;
    editor.scrollIntoView({ block: "start" });
    form.elements.name.focus();
  }

  function payload() {
    const values = formValues(form);
    const body = {};
    for (const [name, value] of Object.entries(values)) {
      if (DATES.includes(name)) body[name] = value ? new Date(value).toISOString() : null;
      else if (OPTIONAL_MONEY.includes(name)) body[name] = value === "" ? null : value;
      else if (SCOPES.includes(name)) body[name] = value.map(Number);
      else body[name] = value;
    }
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showErrors(form, null);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const saved = editing
        ? await api(`/api/campaigns/${editing.id}/`, { method: "PATCH", body: payload() })
        : await api("/api/campaigns/", { method: "POST", body: payload() });
      campaigns.set(saved.id, saved);
      editor.hidden = true;
      editing = null;
      notice.textContent = `${msg("saved")} ${saved.name}`;
      render();
    } catch (error) {
      showErrors(form, error, msg);
    } finally {
      button.disabled = false;
    }
  });
  root.querySelector("[data-action=new]").addEventListener("click", () => openEditor(null));
  root.querySelector("[data-action=cancel]").addEventListener("click", () => {
    editor.hidden = true;
    editing = null;
  });

  // ---- the list ------------------------------------------------------------------
  async function move(campaign, status) {
    listError.textContent = "";
    try {
      const saved = await api(`/api/campaigns/${campaign.id}/`, { method: "PATCH", body: { status } });
      campaigns.set(saved.id, saved);
      render();
    } catch (error) {
      listError.textContent = errorText(error, msg);
    }
  }

  function statusButton(campaign) {
    const buttons = [];
    if (campaign.status === "active") buttons.push(["paused", msg("pause"), "btn-secondary"]);
    if (campaign.status === "paused") buttons.push(["active", msg("resume"), "btn-secondary"]);
    if (campaign.status === "draft") buttons.push(["active", msg("activate"), "btn-secondary"]);
    return buttons.map(([status, label, style]) => {
      const button = el("button", { type: "button", class: `btn btn-small ${style}`, "data-move": status }, label);
      button.addEventListener("click", () => move(campaign, status));
      return button;
    });
  }

  function endButton(campaign) {
    if (campaign.status === "ended") return null;
    const button = el("button", { type: "button", class: "btn btn-small btn-danger", "data-move": "ended" }, msg("end"));
    let armed = null;
    button.addEventListener("click", () => {
      if (armed) {
        clearTimeout(armed);
        move(campaign, "ended");
        return;
      }
      button.textContent = msg("confirm");
      armed = setTimeout(() => {
        armed = null;
        button.textContent = msg("end");
      }, TWO_TAP_MS);
    });
    return button;
  }

  async function showDrops(campaign, holder, toggle) {
    if (!holder.hidden) {
      holder.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      return;
    }
    toggle.setAttribute("aria-expanded", "true");
    holder.hidden = false;
    holder.replaceChildren();
    try {
      const page = await api(`/api/campaigns/${campaign.id}/drops/?page_size=100`);
      if (!page.results.length) {
        holder.append(el("p", { class: "muted" }, msg("no-drops")));
        return;
      }
      const rows = page.results.map((d) =>
        el(
          "li",
          { "data-drop": d.id },
          el("span", { class: "grow" },
            el("strong", {}, d.session_title), el("br"),
            el("time", { dateTime: d.opens_at }, when.format(new Date(d.opens_at)))),
          el("span", { class: "num" }, `${count.format(d.claimed)} / ${count.format(d.quantity)} ${msg("claimed")}`),
          el("span", { class: `badge badge-${d.state}` },
            (d.state === "open" ? msg("state-open") : msg(`reason-${d.close_reason}`)) || d.close_reason),
        ),
      );
      holder.append(el("ul", { class: "rows" }, ...rows));
    } catch (error) {
      holder.append(el("p", { class: "alert" }, errorText(error, msg)));
    }
  }

  function card(campaign) {
    const terms = campaign.kind === "percent" ? `${Number(campaign.value)}%` : `${campaign.value} ${campaign.currency}`;
    const drops = el("div", { hidden: true, "data-drops-of": campaign.id });
    const toggle = el("button", { type: "button", class: "btn btn-small btn-quiet", "aria-expanded": "false", "data-show-drops": campaign.id }, msg("drops"));
    toggle.addEventListener("click", () => showDrops(campaign, drops, toggle));
    const edit = el("button", { type: "button", class: "btn btn-small btn-quiet", "data-edit": campaign.id }, msg("edit"));
    edit.addEventListener("click", () => openEditor(campaign));
    return el(
      "li",
      { class: "card", "data-campaign": campaign.id },
      el("span", { class: `badge badge-${campaign.status}` }, msg(`status-${campaign.status}`) || campaign.status),
      el("h2", {}, campaign.name),
      el("p", { class: "price" }, terms),
      el("p", { class: "muted num" }, `${count.format(campaign.issued)} ${msg("issued")} ${count.format(campaign.budget)}`),
      el("p", { class: "cluster" },
        campaign.status !== "ended" ? edit : null,
        ...statusButton(campaign),
        endButton(campaign),
        toggle,
        el("a", { class: "btn btn-small btn-quiet", href: `/promote/campaigns/${campaign.id}/` }, msg("return"))),
      drops,
    );
  }

  function render() {
    list.replaceChildren(...[...campaigns.values()].sort((a, b) => b.id - a.id).map(card));
    empty.hidden = campaigns.size > 0;
  }

  async function load() {
    try {
      let url = "/api/campaigns/?page_size=200";
      while (url) {
        const page = await api(url);
        for (const c of page.results) campaigns.set(c.id, c);
        url = page.next ? new URL(page.next).pathname + new URL(page.next).search : null;
      }
      render();
    } catch (error) {
      listError.textContent = errorText(error, msg);
    }
  }
  load();
}

const root = document.querySelector("[data-promote]");
if (root) mountPromote(root);
