// Money on the page: decimal strings ("399.00") in, decimal strings out, integer satang
// (hundredths) in between, never a binary float. The checkout's preview prices the way
// orders/pricing.py does; the server's totals are the truth and replace it once placed.

/** "399.5" -> 39950 (hundredths); null for anything that is not a plain decimal. */
export function cents(text) {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(text ?? "").trim());
  if (!match) return null;
  const value = Number(match[2]) * 100 + Number((match[3] || "").padEnd(2, "0"));
  return match[1] ? -value : value;
}

/** 39950 -> "399.50" */
export function decimal(hundredths) {
  const sign = hundredths < 0 ? "-" : "";
  const abs = Math.abs(hundredths);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** A coupon's terms (`kind`, `value`, `max_discount`, `min_spend`, `currency`, `scope`?) against
 *  one line; returns {ok, discount, reason: "min"|"scope"|"currency"|null}. */
export function couponPreview(terms, { amount, currency, product, farm, session }) {
  if (!terms) return { ok: false, discount: 0, reason: null };
  if (terms.currency && terms.currency !== currency) return { ok: false, discount: 0, reason: "currency" };
  const scope = terms.scope || {};
  const covers = (ids, id) => !ids || ids.length === 0 || ids.map(Number).includes(Number(id));
  if (!covers(scope.products, product) || !covers(scope.farms, farm) || !covers(scope.sessions, session)) {
    return { ok: false, discount: 0, reason: "scope" };
  }
  if (amount <= 0 || amount < (cents(terms.min_spend) ?? 0)) return { ok: false, discount: 0, reason: "min" };
  let off;
  if (terms.kind === "percent") {
    // eligible * value / 100, half-up to the satang: value in hundredths, so / 10000.
    off = Math.floor((amount * cents(terms.value) + 5000) / 10000);
    const cap = cents(terms.max_discount);
    if (cap !== null) off = Math.min(off, cap);
  } else {
    off = cents(terms.value) ?? 0;
  }
  return { ok: true, discount: Math.min(Math.max(off, 0), amount), reason: null };
}
