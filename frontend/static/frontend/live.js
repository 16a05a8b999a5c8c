// The viewer's live page (frontend/templates/frontend/live.html): video over WHEP, the live
// socket's snapshot and events (docs/protocol.md), the pinned product with a one-tap Buy,
// coupon drops with a countdown on the server's clock, chat, the order ticker and the
// checkout sheet (checkout.js). The server-rendered page is already readable; this fills
// in what changes. Nothing here guesses: the status pill says what the socket is doing.

import { mountChat } from "./chat.js";
import { mountCheckout } from "./checkout.js";
import { everySecond, formatLeft } from "./clock.js";
import { errorText, messages } from "./i18n.js";
import { LiveSocket } from "./socket.js";
import { play } from "./webrtc.js";

const VIDEO_RETRY_MS = [2000, 4000, 8000, 15000];

export function mountLive(root) {
  const sessionId = Number(root.dataset.session);
  const signedIn = root.dataset.signedIn === "1";
  const $ = (name) => root.querySelector(`[data-${name}]`);
  const msg = messages(root);
  const claimsKey = `talad.claims.${sessionId}`;

  let status = root.dataset.status; // scheduled | live | ended
  let socketState = "connecting";
  const products = new Map(); // product id -> {product, name, unitPrice, price, livePrice, currency, unit, left}
  let pinnedId = null;
  const drops = new Map(); // drop id -> coupon.drop data, `left` kept current
  let claims = [];
  try {
    claims = JSON.parse(sessionStorage.getItem(claimsKey)) || [];
  } catch {}

  const live = new LiveSocket(sessionId, { onEvent, onState });
  const chat = mountChat(root, { live, msg });
  const checkout = mountCheckout($("sheet"), {
    sessionId,
    farm: Number(root.dataset.farm),
    shipping: root.dataset.shipping,
    serverNow: () => live.serverNow(),
    wallet: () => claims,
    statusLabels: JSON.parse(document.getElementById("order-status-labels")?.textContent || "{}"),
  });

  // --- products ------------------------------------------------------------------------

  function priceOf(p) {
    return status === "live" ? p.livePrice : p.price;
  }

  function remember(data) {
    const known = products.get(data.product) || { product: data.product };
    Object.assign(known, {
      name: data.name ?? known.name,
      livePrice: data.live_price ?? known.livePrice,
      price: data.price ?? known.price ?? data.live_price,
      currency: data.currency ?? known.currency ?? "THB",
      unit: data.unit ?? known.unit ?? "",
      left: data.left ?? known.left,
    });
    known.unitPrice = priceOf(known);
    products.set(data.product, known);
    return known;
  }

  // What the server rendered, so Buy works before the socket answers.
  for (const li of root.querySelectorAll("[data-item]")) {
    remember({
      product: Number(li.dataset.item), name: li.dataset.name, live_price: li.dataset.livePrice,
      price: li.dataset.price, currency: li.dataset.currency, unit: li.dataset.unit,
      left: Number(li.dataset.left),
    });
  }
  pinnedId = Number($("buy").dataset.product) || null;

  function drawPinned() {
    const card = $("pinned");
    const p = products.get(pinnedId);
    card.hidden = !p;
    if (!p) return;
    p.unitPrice = priceOf(p);
    $("pinned-name").textContent = p.name;
    $("pinned-price").textContent = p.unitPrice;
    $("pinned-currency").textContent = p.currency;
    $("pinned-unit").textContent = p.unit;
    $("pinned-was").textContent = p.price && p.price !== p.unitPrice ? p.price : "";
    $("pinned-left").textContent = p.left ?? "–";
    const button = $("buy");
    button.dataset.product = p.product;
    const soldOut = status === "live" && p.left === 0;
    button.disabled = soldOut;
    button.textContent = soldOut ? msg("sold-out") : signedIn ? msg("buy") : msg("buy-sign-in");
  }

  function buy(productId) {
    if (!signedIn) {
      location.assign(root.dataset.login);
      return;
    }
    const p = products.get(productId);
    if (!p) return;
    p.unitPrice = priceOf(p);
    const latest = claims.at(-1);
    checkout.open(p, latest?.claim ?? null);
  }

  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-buy], [data-buy-item]");
    if (button) buy(Number(button.dataset.product || button.dataset.buyItem));
  });

  // --- coupon drops --------------------------------------------------------------------

  function shownDrop() {
    let best = null;
    for (const d of drops.values()) if (!best || Date.parse(d.opens_at) >= Date.parse(best.opens_at)) best = d;
    return best;
  }

  function termsText(d) {
    const main = d.kind === "percent"
      ? msg("percent", { value: String(Number(d.value)) })
      : msg("fixed", { value: d.value, currency: d.currency });
    const extra = [];
    if (d.max_discount) extra.push(msg("cap", { amount: `${d.max_discount} ${d.currency}` }));
    if (d.min_spend && Number(d.min_spend) > 0) extra.push(msg("min-spend", { amount: `${d.min_spend} ${d.currency}` }));
    return [main, extra.join(" · ")];
  }

  function drawDrop() {
    const d = shownDrop();
    const box = $("drop");
    box.hidden = !d;
    if (!d) return;
    if (box.dataset.drop !== String(d.drop)) {
      box.dataset.drop = d.drop;
      $("drop-result").textContent = "";
    }
    const [main, extra] = termsText(d);
    $("drop-terms").textContent = main;
    $("drop-extra").textContent = extra;
    $("drop-left").textContent = d.left;
    const mine = claims.find((c) => c.drop === d.drop);
    const button = $("claim");
    if (mine) {
      button.disabled = true;
      $("drop-result").textContent = msg("claimed", { code: mine.code });
    } else {
      button.disabled = d.left <= 0 || live.serverNow() < Date.parse(d.opens_at);
    }
    tickDrop();
  }

  function tickDrop() {
    const d = shownDrop();
    if (!d) return;
    const now = live.serverNow();
    const opens = Date.parse(d.opens_at);
    const closes = Date.parse(d.closes_at);
    if (now < opens) {
      $("drop-time").textContent = msg("opens-in", { time: formatLeft(opens - now) });
    } else {
      $("drop-time").textContent = msg("ends-in", { time: formatLeft(closes - now) });
      const button = $("claim");
      if (button.disabled && d.left > 0 && !claims.some((c) => c.drop === d.drop)) button.disabled = false;
    }
    if (now > closes + 2000) {
      drops.delete(d.drop); // the close event was lost with a connection: the clock says so
      drawDrop();
    }
  }

  async function claim() {
    if (!signedIn) {
      location.assign(root.dataset.login);
      return;
    }
    const d = shownDrop();
    if (!d) return;
    const button = $("claim");
    button.disabled = true;
    try {
      const won = await live.send("coupon.claim", { drop: d.drop });
      const { drop, kind, value, max_discount, min_spend, currency } = d;
      claims = claims.filter((c) => c.claim !== won.claim);
      claims.push({ ...won, drop, kind, value, max_discount, min_spend, currency });
      sessionStorage.setItem(claimsKey, JSON.stringify(claims));
      drawDrop();
    } catch (err) {
      $("drop-result").textContent = errorText(err, msg, { prefix: "claim" });
      button.disabled = err.code === "sold_out" || err.code === "already_claimed" || err.code === "drop_closed";
    }
  }
  $("claim").addEventListener("click", claim);

  // --- video ---------------------------------------------------------------------------

  const video = $("video");
  const note = $("video-note");
  let player = null;
  let videoOn = false;
  let starting = false;
  let retries = 0;
  let retryTimer = null;

  function showNote(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  async function startVideo() {
    if (player || starting || !videoOn || status !== "live") return;
    starting = true;
    clearTimeout(retryTimer);
    try {
      player = await play({
        whepUrl: `/api/sessions/${sessionId}/whep`,
        video,
        onState: (state) => {
          if (state === "connected") {
            retries = 0;
            showNote("");
          }
          if (state === "failed" || state === "closed") stopVideo(true);
        },
      });
      await video.play().catch(() => {});
      $("unmute").hidden = !video.muted;
    } catch (err) {
      player = null;
      showNote(err.reason === "not_publishing" ? msg("video-paused") : msg("video-failed"));
      retryLater();
    } finally {
      starting = false;
    }
  }

  function stopVideo(retry = false) {
    const old = player;
    player = null;
    old?.stop();
    if (retry) {
      showNote(msg("video-failed"));
      retryLater();
    }
  }

  function retryLater() {
    clearTimeout(retryTimer);
    const wait = VIDEO_RETRY_MS[Math.min(retries, VIDEO_RETRY_MS.length - 1)];
    retries += 1;
    retryTimer = setTimeout(startVideo, wait);
  }

  function setVideo(on) {
    videoOn = Boolean(on);
    if (status === "ended") {
      stopVideo();
      showNote(msg("state-ended"));
    } else if (videoOn) {
      // Back after a pause: the connection stayed and frames flow again by themselves.
      if (player) showNote("");
      startVideo();
    } else {
      // The host's picture paused: the connection stays, frames come back by themselves.
      if (!player) showNote(status === "live" ? msg("novideo") : msg("state-scheduled"));
      else showNote(msg("video-paused"));
    }
  }

  $("unmute").addEventListener("click", () => {
    video.muted = false;
    video.play().catch(() => {});
    $("unmute").hidden = true;
  });

  // --- the socket ----------------------------------------------------------------------

  function drawPill() {
    const pill = $("pill");
    let state = socketState;
    if (socketState === "live" && status !== "live") state = status; // scheduled | ended
    // Each try of a reconnect says "reconnecting" again: an unchanged pill is not
    // rewritten, so a screen reader announces the change once, not once a try.
    if (pill.dataset.state === state) return;
    pill.dataset.state = state;
    pill.textContent = msg(`state-${state}`) || state;
  }

  function onState(state) {
    socketState = state;
    drawPill();
  }

  function setStatus(next) {
    status = next;
    root.dataset.status = next;
    for (const p of products.values()) p.unitPrice = priceOf(p);
    drawPill();
    drawPinned();
  }

  function ticker(data) {
    const name = products.get(data.product)?.name || "";
    const line = $("ticker");
    line.textContent = msg("ticker", { buyer: data.buyer, qty: data.qty, product: name });
    line.classList.remove("fresh");
    void line.offsetWidth; // restart the highlight animation
    line.classList.add("fresh");
  }

  function onEvent(frame) {
    const d = frame.data || {};
    switch (frame.type) {
      case "snapshot":
        for (const item of d.showcase || []) remember(item);
        if (d.pinned) pinnedId = remember(d.pinned).product;
        drops.clear();
        for (const drop of d.drops || []) drops.set(drop.drop, drop);
        $("viewers").textContent = d.viewers ?? "–";
        chat.snapshot(d.chat);
        setStatus(d.session?.status || status);
        drawDrop();
        setVideo(d.video?.on);
        break;
      case "session.state":
        setStatus(d.status);
        if (d.video !== null && d.video !== undefined) setVideo(d.video);
        else if (d.status === "ended") setVideo(false);
        if (d.status === "ended") {
          drops.clear();
          drawDrop();
        }
        break;
      case "viewers":
        $("viewers").textContent = d.count;
        break;
      case "chat.message":
        chat.message(d);
        break;
      case "chat.deleted":
        chat.deleted(d.id);
        break;
      case "reactions":
        chat.reactions(d.counts);
        break;
      case "product.pinned":
        pinnedId = remember(d).product;
        drawPinned();
        break;
      case "stock":
        if (products.has(d.product)) {
          products.get(d.product).left = d.left;
          if (d.product === pinnedId) drawPinned();
        }
        break;
      case "coupon.drop":
        drops.set(d.drop, d);
        drawDrop();
        break;
      case "coupon.left":
        if (drops.has(d.drop)) {
          drops.get(d.drop).left = d.left;
          drawDrop();
        }
        break;
      case "coupon.drop.closed":
        drops.delete(d.drop);
        drawDrop();
        break;
      case "order.ticker":
        ticker(d);
        break;
      default:
        break;
    }
  }

  drawPinned();
  drawPill();
  everySecond(tickDrop);
  live.connect();
  return { live, products, drops };
}

const root = document.querySelector("[data-live]");
if (root) mountLive(root);
