// The studio's live desk: session start/end, the showcase with one-tap pin, coupon drops,
// the host's live numbers and chat moderation, all on the one live socket (socket.js) and
// the REST API (api.js). The camera and WHIP stay in studio.js.
//
// Text the page shows comes from the template (data-msg-* on the element it belongs to,
// translated there, read with i18n.js); what users typed is only ever set as textContent.

import { api } from "./api.js";
import { errorText, messages } from "./i18n.js";
import { LiveSocket } from "./socket.js";
import { el, formValues, showErrors } from "./ui.js";

const CHAT_KEEP = 200;
const TWO_TAP_MS = 4000;

export function mountLive(root) {
  const sessionId = Number(root.dataset.session);
  const lang = document.documentElement.lang || undefined;
  const count = new Intl.NumberFormat(lang);
  const q = (selector) => root.querySelector(selector);
  const msg = messages(root);

  const statusBadge = q("[data-session-status]");
  const startButton = q("[data-action=start]");
  const endButton = q("[data-action=end]");
  const sessionError = q('[data-error="session"]');
  const healthLine = q("[data-health]");
  const socketLine = q("[data-socket-state]");
  const showcaseList = q("[data-showcase]");
  const showcaseEmpty = q("[data-showcase-empty]");
  const showcaseForm = q('[data-form="showcase"]');
  const dropForm = q('[data-form="drop"]');
  const campaignSelect = q("#drop-campaign");
  const dropList = q("[data-drops]");
  const chatList = q("[data-chat]");
  const chatForm = q('[data-form="chat"]');
  const chatError = q('[data-error="chat"]');

  const showcase = new Map(); // product id -> item
  const drops = new Map(); // drop id -> {drop, campaign, quantity, left, closes_at, closed}
  const campaigns = new Map(); // campaign id -> name
  const muted = new Set(); // user ids muted in this session (as far as this page knows)
  let hostNumbersSeen = false;

  // ---- session status -------------------------------------------------------------
  function renderStatus(status) {
    statusBadge.className = `badge badge-${status}`;
    statusBadge.textContent = messages(statusBadge)(status) || status;
    startButton.hidden = status !== "scheduled";
    endButton.hidden = status === "ended";
    for (const button of dropForm.querySelectorAll("button")) button.disabled = status !== "live";
  }

  async function lifecycle(action) {
    sessionError.textContent = "";
    try {
      const session = await api(`/api/sessions/${sessionId}/${action}/`, { method: "POST" });
      renderStatus(session.status);
      if (session.status === "live") loadCampaigns();
    } catch (error) {
      sessionError.textContent = errorText(error, msg);
    }
  }

  startButton.addEventListener("click", () => lifecycle("start"));
  let endArmed = null;
  const endLabel = endButton.textContent;
  endButton.addEventListener("click", () => {
    // Two taps, not a modal: one thumb, no dialog to dismiss mid-live.
    if (endArmed) {
      clearTimeout(endArmed);
      endArmed = null;
      endButton.textContent = endLabel;
      lifecycle("end");
      return;
    }
    endButton.textContent = messages(endButton)("confirm");
    endArmed = setTimeout(() => {
      endArmed = null;
      endButton.textContent = endLabel;
    }, TWO_TAP_MS);
  });

  // ---- numbers ----------------------------------------------------------------------
  const numbers = Object.fromEntries(
    [...root.querySelectorAll("[data-num]")].map((node) => [node.dataset.num, node]),
  );
  function setNumber(name, text) {
    const node = numbers[name];
    if (!node || node.textContent === text) return;
    node.textContent = text;
    node.parentElement.classList.remove("flash");
    void node.parentElement.offsetWidth; // restart the highlight
    node.parentElement.classList.add("flash");
  }
  function money(amount, currency) {
    try {
      return new Intl.NumberFormat(lang, { style: "currency", currency, maximumFractionDigits: 0 }).format(Number(amount));
    } catch {
      return `${amount} ${currency}`;
    }
  }
  function renderHostNumbers(data) {
    hostNumbersSeen = true;
    setNumber("viewers", count.format(data.viewers ?? 0));
    setNumber("orders", count.format(data.orders ?? 0));
    setNumber("gmv", money(data.gmv ?? "0", data.currency || "THB"));
    setNumber("claims", count.format(data.claims ?? 0));
    const top = data.top_product;
    setNumber("top", top ? `${top.name} · ${count.format(top.units)}` : "—");
  }

  // ---- showcase -------------------------------------------------------------------
  function renderShowcase() {
    showcaseList.replaceChildren();
    showcaseEmpty.hidden = showcase.size > 0;
    const l = messages(showcaseList);
    for (const item of showcase.values()) {
      const pin = el(
        "button",
        { type: "button", class: "btn btn-small" + (item.pinned ? "" : " btn-secondary"), "aria-pressed": String(!!item.pinned), "data-pin": item.product },
        item.pinned ? l("pinned") : l("pin"),
      );
      pin.addEventListener("click", () => pinProduct(item.product, pin));
      showcaseList.append(
        el(
          "li",
          { "data-product": item.product },
          el("span", { class: "grow" }, el("strong", {}, item.name), el("br"),
            el("span", { class: "price" }, `${item.live_price} ${item.currency || ""}`), " ",
            el("span", { class: "muted num", "data-left": item.product }, `${count.format(item.left)} / ${count.format(item.allotment)} ${item.unit || ""}`)),
          pin,
        ),
      );
    }
  }
  function mergeShowcase(items) {
    for (const item of items || []) showcase.set(item.product, { ...showcase.get(item.product), ...item });
    renderShowcase();
  }
  async function pinProduct(product, button) {
    button.disabled = true;
    try {
      await api(`/api/sessions/${sessionId}/pin/`, { method: "POST", body: { product } });
      markPinned(product);
    } catch (error) {
      sessionError.textContent = errorText(error, msg);
    } finally {
      button.disabled = false;
    }
  }
  function markPinned(product, left) {
    for (const item of showcase.values()) item.pinned = item.product === product;
    if (left !== undefined && showcase.has(product)) showcase.get(product).left = left;
    renderShowcase();
  }

  const productSelect = showcaseForm.querySelector("[name=product]");
  const priceInput = showcaseForm.querySelector("[name=live_price]");
  const allotmentInput = showcaseForm.querySelector("[name=allotment]");
  function suggest() {
    const option = productSelect.selectedOptions[0];
    if (!option?.value) return;
    if (!priceInput.value || priceInput.dataset.suggested === "1") {
      priceInput.value = option.dataset.price || "";
      priceInput.dataset.suggested = "1";
    }
    allotmentInput.max = option.dataset.stock || "";
  }
  productSelect.addEventListener("change", () => {
    priceInput.dataset.suggested = "1";
    priceInput.value = "";
    suggest();
  });
  priceInput.addEventListener("input", () => (priceInput.dataset.suggested = "0"));
  suggest();
  showcaseForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showErrors(showcaseForm, null);
    const values = formValues(showcaseForm);
    const button = showcaseForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const item = await api(`/api/sessions/${sessionId}/showcase/`, {
        method: "POST",
        body: { product: values.product, live_price: values.live_price, allotment: values.allotment },
      });
      mergeShowcase([item]);
      allotmentInput.value = "";
      showcaseForm.closest("details").open = false;
    } catch (error) {
      showErrors(showcaseForm, error, msg);
    } finally {
      button.disabled = false;
    }
  });

  // ---- coupon drops ---------------------------------------------------------------
  async function loadCampaigns() {
    const l = messages(campaignSelect);
    try {
      const page = await api(`/api/sessions/${sessionId}/campaigns/?page_size=200`);
      const chosen = campaignSelect.value;
      campaignSelect.replaceChildren();
      for (const c of page.results) {
        campaigns.set(c.id, c.name);
        const terms = c.kind === "percent" ? `${Number(c.value)}%` : `${c.value} ${c.currency}`;
        campaignSelect.append(el("option", { value: c.id }, `${c.name} · ${terms} · ${count.format(c.left)} ${l("left")}`));
      }
      if (!page.results.length) campaignSelect.append(el("option", { value: "" }, l("none")));
      if (chosen) campaignSelect.value = chosen;
      if (!campaignSelect.value) campaignSelect.selectedIndex = 0;
    } catch (error) {
      showErrors(dropForm, error, msg);
    }
  }
  function renderDrops() {
    const l = messages(dropList);
    dropList.replaceChildren();
    const now = live.serverNow();
    for (const d of [...drops.values()].sort((a, b) => b.drop - a.drop).slice(0, 5)) {
      const secondsLeft = Math.max(0, Math.ceil((Date.parse(d.closes_at) - now) / 1000));
      const open = !d.closed && secondsLeft > 0;
      const row = el(
        "li",
        { "data-drop": d.drop },
        el("span", { class: "grow" },
          el("strong", {}, campaigns.get(d.campaign) || `#${d.campaign}`), el("br"),
          el("span", { class: "num" }, `${count.format(d.left)} / ${count.format(d.quantity)} ${l("left")}`),
          " · ",
          el("span", { class: open ? "badge badge-open num" : "badge badge-closed" }, open ? `${secondsLeft} s` : l("closed"))),
      );
      if (open) {
        const cancel = el("button", { type: "button", class: "btn btn-small btn-quiet" }, l("cancel"));
        cancel.addEventListener("click", async () => {
          cancel.disabled = true;
          try {
            await api(`/api/drops/${d.drop}/cancel/`, { method: "POST" });
          } catch (error) {
            sessionError.textContent = errorText(error, msg);
            cancel.disabled = false;
          }
        });
        row.append(cancel);
      }
      dropList.append(row);
    }
  }
  dropForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showErrors(dropForm, null);
    const values = formValues(dropForm);
    const button = dropForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const drop = await api(`/api/sessions/${sessionId}/drops/`, {
        method: "POST",
        body: { campaign: values.campaign, quantity: values.quantity, duration_s: values.duration_s },
      });
      drops.set(drop.id, {
        drop: drop.id, campaign: drop.campaign, quantity: drop.quantity,
        left: drop.quantity - drop.claimed, closes_at: drop.closes_at, closed: drop.state !== "open",
        ...drops.get(drop.id),
      });
      renderDrops();
      loadCampaigns();
    } catch (error) {
      showErrors(dropForm, error, msg);
    } finally {
      button.disabled = false;
    }
  });
  setInterval(() => drops.size && renderDrops(), 1000);

  // ---- chat and its moderation -------------------------------------------------------
  function chatRow(entry) {
    const l = messages(chatList);
    const speaker = entry.speaker || {};
    const userId = entry.user_id ?? speaker.id;
    const row = el(
      "li",
      { "data-chat-id": entry.id, "data-user": userId, class: muted.has(userId) ? "muted-user" : null },
      el("span", { class: "grow" },
        el("span", { class: "who-said" }, entry.user || speaker.display_name || ""),
        speaker.host ? el("span", { class: "host-mark" }, ` (${l("host")})`) : null,
        ": ",
        el("span", {}, entry.text)),
    );
    if (!speaker.host) {
      const remove = el("button", { type: "button", class: "btn btn-small btn-quiet", "data-chat-delete": entry.id }, l("delete"));
      remove.addEventListener("click", () => moderate("chat.delete", { id: entry.id }, remove));
      const isMuted = muted.has(userId);
      const mute = el("button", { type: "button", class: "btn btn-small btn-quiet", "data-chat-mute": userId, "aria-pressed": String(isMuted) }, isMuted ? l("unmute") : l("mute"));
      mute.addEventListener("click", async () => {
        const nowMuted = muted.has(userId);
        if (await moderate(nowMuted ? "chat.unmute" : "chat.mute", { user: userId }, mute)) {
          if (nowMuted) muted.delete(userId);
          else muted.add(userId);
          for (const other of chatList.querySelectorAll(`[data-user="${userId}"]`)) {
            other.replaceWith(chatRow(chatEntries.get(Number(other.dataset.chatId))));
          }
        }
      });
      row.append(remove, mute);
    }
    return row;
  }
  const chatEntries = new Map();
  function addChat(entry) {
    if (chatEntries.has(entry.id)) return; // a snapshot and an event may both carry it
    chatEntries.set(entry.id, entry);
    const stick = chatList.scrollTop + chatList.clientHeight >= chatList.scrollHeight - 8;
    chatList.append(chatRow(entry));
    while (chatEntries.size > CHAT_KEEP) {
      const oldest = chatEntries.keys().next().value;
      chatEntries.delete(oldest);
      chatList.querySelector(`[data-chat-id="${oldest}"]`)?.remove();
    }
    if (stick) chatList.scrollTop = chatList.scrollHeight;
  }
  function removeChat(id) {
    chatEntries.delete(id);
    chatList.querySelector(`[data-chat-id="${id}"]`)?.remove();
  }
  async function moderate(type, data, button) {
    chatError.textContent = "";
    button.disabled = true;
    try {
      await live.send(type, data);
      return true;
    } catch (error) {
      chatError.textContent = errorText(error, msg, { prefix: "chat" });
      return false;
    } finally {
      button.disabled = false;
    }
  }
  chatForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = chatForm.querySelector("[name=text]");
    const text = input.value.trim();
    if (!text) return;
    chatError.textContent = "";
    try {
      await live.send("chat.send", { text });
      input.value = "";
    } catch (error) {
      chatError.textContent = errorText(error, msg, { prefix: "chat" });
    }
  });

  // ---- the live socket ------------------------------------------------------------
  function onEvent(frame) {
    const d = frame.data || {};
    switch (frame.type) {
      case "snapshot":
        renderStatus(d.session?.status || "scheduled");
        if (!hostNumbersSeen) setNumber("viewers", count.format(d.viewers ?? 0));
        mergeShowcase(d.showcase);
        if (d.pinned) markPinned(d.pinned.product, d.pinned.left);
        for (const entry of d.chat || []) addChat(entry);
        for (const drop of d.drops || []) drops.set(drop.drop, { ...drop, closed: false });
        renderDrops();
        break;
      case "session.state":
        renderStatus(d.status);
        break;
      case "viewers":
        if (!hostNumbersSeen) setNumber("viewers", count.format(d.count));
        break;
      case "host.numbers":
        renderHostNumbers(d);
        break;
      case "stream.health":
        healthLine.textContent = d.publishing
          ? `${d.width}×${d.height} · ${d.fps} fps · ${d.bitrate_kbps} kbps · ${d.viewers} ${msg("viewers")}`
          : "—";
        break;
      case "chat.message":
        addChat(d);
        break;
      case "chat.deleted":
        removeChat(d.id);
        break;
      case "product.pinned":
        if (!showcase.has(d.product)) showcase.set(d.product, { ...d, allotment: d.left });
        markPinned(d.product, d.left);
        break;
      case "stock":
        if (showcase.has(d.product)) {
          showcase.get(d.product).left = d.left;
          renderShowcase();
        }
        break;
      case "coupon.drop":
        drops.set(d.drop, { ...drops.get(d.drop), ...d, closed: false });
        renderDrops();
        break;
      case "coupon.left":
        if (drops.has(d.drop)) drops.get(d.drop).left = d.left;
        renderDrops();
        break;
      case "coupon.drop.closed":
        if (drops.has(d.drop)) drops.get(d.drop).closed = true;
        renderDrops();
        loadCampaigns();
        break;
      default:
        break;
    }
  }
  const live = new LiveSocket(sessionId, {
    onEvent,
    onState: (state) => {
      socketLine.textContent = messages(socketLine)(state);
    },
  });
  live.connect();

  // The showcase with allotments (the snapshot has them too; REST is there before the socket).
  api(`/api/sessions/${sessionId}/`)
    .then((session) => {
      renderStatus(session.status);
      mergeShowcase(session.showcase);
    })
    .catch((error) => (sessionError.textContent = errorText(error, msg)));
  loadCampaigns();
  return live;
}

const root = document.querySelector("[data-studio]");
if (root) mountLive(root);
