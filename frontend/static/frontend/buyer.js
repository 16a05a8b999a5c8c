// The buyer's pages (my_order.html, my_coupons.html), server-rendered; this adds what
// changes by itself: deadlines and coupons' time left tick down, and an order waiting for
// payment reloads once the provider's webhook has moved it (a bank app pays in another tab).

import { api } from "./api.js";
import { tickDeadlines } from "./clock.js";

const POLL_MS = 5000;

tickDeadlines(document);

const order = document.querySelector("[data-order]");
if (order && order.dataset.orderStatus === "pending_payment") {
  const poll = async () => {
    if (document.visibilityState === "visible") {
      try {
        const now = await api(`/api/orders/${order.dataset.order}/`);
        if (now.status !== order.dataset.orderStatus) {
          location.reload();
          return;
        }
      } catch {
        // offline for a moment: the next poll tries again
      }
    }
    setTimeout(poll, POLL_MS);
  };
  setTimeout(poll, POLL_MS);
}
