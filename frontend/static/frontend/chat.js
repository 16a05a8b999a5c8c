// The live page's chat and reactions. Messages are de-duplicated by id (a fact may come in
// the snapshot and again as an event just after it, docs/protocol.md), the host is marked
// from `speaker.host` (never from the name, which anyone may choose), and every user text
// goes in through textContent.

import { errorText } from "./i18n.js";

const KEEP = 100; // messages kept in the page; older ones leave the DOM
const EMOJI = { heart: "❤️", like: "👍", laugh: "😂", wow: "😮", clap: "👏", fire: "🔥" };
const FLOATS_PER_KIND = 3;

export function mountChat(root, { live, msg }) {
  const log = root.querySelector("[data-chat-log]");
  const form = root.querySelector("[data-chat-form]");
  const error = root.querySelector("[data-chat-error]");
  const floats = root.querySelector("[data-floats]");
  const shown = new Map(); // id -> <li>

  function line(m) {
    if (shown.has(m.id)) return null;
    const li = document.createElement("li");
    li.dataset.id = m.id;
    const who = document.createElement("span");
    who.className = "chat-who";
    who.textContent = m.speaker?.display_name || m.user || "";
    li.append(who);
    for (const [flag, label] of [["host", msg("host")], ["staff", msg("staff")]]) {
      if (!m.speaker?.[flag]) continue;
      const mark = document.createElement("span");
      mark.className = `chat-mark chat-${flag}`;
      mark.textContent = label;
      li.append(" ", mark);
      li.classList.add(`from-${flag}`);
    }
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = m.text;
    li.append(" ", text);
    shown.set(m.id, li);
    return li;
  }

  function trim() {
    while (log.children.length > KEEP) {
      const first = log.firstElementChild;
      shown.delete(Number(first.dataset.id));
      first.remove();
    }
  }

  function add(messages) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    for (const m of messages) {
      const li = line(m);
      if (li) log.append(li);
    }
    trim();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function remove(id) {
    shown.get(id)?.remove();
    shown.delete(id);
  }

  function reactions(counts) {
    for (const [kind, n] of Object.entries(counts || {})) {
      for (let i = 0; i < Math.min(n, FLOATS_PER_KIND); i++) {
        const bubble = document.createElement("span");
        bubble.textContent = EMOJI[kind] || "";
        bubble.style.left = `${10 + Math.random() * 80}%`;
        bubble.style.animationDelay = `${i * 0.2}s`;
        bubble.addEventListener("animationend", () => bubble.remove());
        floats.append(bubble);
      }
    }
  }

  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-reaction]");
    if (!button) return;
    // No reply comes for a reaction: it is counted into the next `reactions` broadcast.
    live.send("reaction.send", { kind: button.dataset.reaction }, { timeoutMs: 1000 }).catch(() => {});
    reactions({ [button.dataset.reaction]: 1 });
  });

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = form.elements.text;
    const text = input.value.trim();
    if (!text) return;
    error.textContent = "";
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await live.send("chat.send", { text });
      input.value = "";
    } catch (err) {
      error.textContent = errorText(err, msg, { prefix: "chat" });
    } finally {
      button.disabled = false;
    }
  });

  return {
    snapshot(messages) {
      // After a reconnect: a message deleted while this page was away is missing from the
      // snapshot (the newest messages still shown), and its `chat.deleted` came before the
      // snapshot's last_seq, so it is not replayed. Shown messages the snapshot should
      // hold but does not are gone; older ones are past its window and stay.
      const list = messages || [];
      const ids = new Set(list.map((m) => m.id));
      const oldest = list.length ? Math.min(...ids) : -Infinity;
      for (const id of [...shown.keys()]) if (id >= oldest && !ids.has(id)) remove(id);
      add(list);
    },
    message: (m) => add([m]),
    deleted: (id) => remove(id),
    reactions,
  };
}
