// Countdowns that agree with the server: every page passes its own idea of "now" (the live
// page the socket's server clock, others the browser's), and one timer drives them all.

import { messages } from "./i18n.js";

/** 75_000 -> "1:15", 3_725_000 -> "1:02:05"; never negative. */
export function formatLeft(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Calls `draw()` every second (and once now) until the returned stop() is called. */
export function everySecond(draw) {
  draw();
  const timer = setInterval(draw, 1000);
  return () => clearInterval(timer);
}

/**
 * Each `[data-until]` element under `root` (an ISO time) shows the time left in it,
 * `data-msg-left` with `{time}` filled in, or `data-msg-over` once the time has passed
 * (and gets `data-over`). For server-rendered deadlines on the buyer pages.
 */
export function tickDeadlines(root, now = () => Date.now()) {
  const items = [...root.querySelectorAll("[data-until]")];
  if (!items.length) return () => {};
  return everySecond(() => {
    for (const el of items) {
      const left = Date.parse(el.dataset.until) - now();
      if (Number.isNaN(left)) continue;
      const msg = messages(el);
      if (left <= 0) {
        el.textContent = msg("over") || formatLeft(0);
        el.dataset.over = "1";
      } else {
        el.textContent = msg("left", { time: formatLeft(left) }) || formatLeft(left);
      }
    }
  });
}
