// Labels for a whole session: GET /api/sessions/{id}/labels.pdf answers 202 with progress
// ({status, done, total, retry_after_s}) while a worker builds the PDF, then 200 with it. We
// show the progress, poll as the server asks, and offer the PDF when it is there.

import { api } from "./api.js";
import { errorText, messages } from "./i18n.js";

const panel = document.querySelector("[data-labels-panel]");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let running = null;

function show(progress, text) {
  const bar = panel.querySelector("progress");
  bar.max = Math.max(1, progress.total || 1);
  bar.value = Math.min(bar.max, progress.done || 0);
  panel.querySelector("[data-labels-text]").textContent = text;
}

async function build(sessionId, button) {
  const link = panel.querySelector("[data-labels-link]");
  const msg = messages(panel);
  panel.hidden = false;
  link.hidden = true;
  button.disabled = true;
  show({ done: 0, total: 1 }, msg("queued"));
  try {
    for (;;) {
      const reply = await api(`/api/sessions/${sessionId}/labels.pdf`, {
        raw: true,
        headers: { Accept: "application/pdf, application/json" },
      });
      if (reply.status !== 202) {
        const pdf = await reply.blob();
        if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
        link.href = URL.createObjectURL(pdf);
        link.download = `labels-session-${sessionId}.pdf`;
        link.hidden = false;
        show({ done: 1, total: 1 }, msg("ready"));
        link.focus();
        return;
      }
      const progress = await reply.json();
      const message = progress.status === "building" ? msg("building", progress) : msg("queued");
      show(progress, message);
      const wait = Number(progress.retry_after_s ?? reply.headers.get("Retry-After") ?? 1);
      await sleep(Math.min(10, Math.max(0.5, Number.isFinite(wait) ? wait : 1)) * 1000);
    }
  } catch (err) {
    show({ done: 0, total: 1 }, errorText(err, msg));
  } finally {
    button.disabled = false;
  }
}

if (panel) {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-labels]");
    if (!button || running) return;
    running = build(button.dataset.labels, button).finally(() => {
      running = null;
    });
  });
}
