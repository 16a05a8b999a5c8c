// The live socket every page shares (viewer, studio): docs/protocol.md in code.
//
//   const live = new LiveSocket(42, { onEvent, onState });
//   live.connect();
//   const reply = await live.send("coupon.claim", { drop: 7 });   // rejects with LiveError
//
// It keeps the highest `seq` seen and reconnects with `?last_seq=` after any drop, with
// back-off (1 s, 2 s, 4 s ... 30 s, plus jitter), so a viewer on a weak rural link misses
// nothing and sees nothing twice. It says honestly what state it is in through onState:
// "connecting", "live", "reconnecting" (with the seconds until the next try) or "closed".
// The back-off starts over only once a snapshot arrives: a server that accepts sockets and
// drops them at once is not hammered every second. A socket that misses its pong is given
// up on the spot (a dead link's close event can take a minute to come), and coming back
// online or to the page checks the socket (or tries again) at once.

const BACKOFF_MAX_S = 30;
const PING_EVERY_MS = 25_000; // below common proxy idle timeouts
const PONG_WITHIN_MS = 10_000; // a socket that cannot answer a ping in time is dead

/** A refusal from the server (`error` reply) or a reply lost to a dropped socket. */
export class LiveError extends Error {
  constructor(code, message, retryAfterS = null) {
    super(message);
    this.name = "LiveError";
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

export class LiveSocket {
  constructor(sessionId, { onEvent = () => {}, onState = () => {}, onReply = () => {}, url = null } = {}) {
    this.sessionId = sessionId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onReply = onReply;
    this.url = url;
    this.lastSeq = null;
    this.state = "closed";
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.offsetMs = 0; // server clock minus ours, from frames' `ts`
    this.ws = null;
    this.stopped = false;
    this.timers = {};
    this.pongDue = false;
    // Back online, or back on the page (a phone's screen on again): a socket that died
    // meanwhile is found now rather than at the next ping, and a wait for the next try is
    // cut short.
    const check = () => {
      if (this.stopped) return;
      if (this.state === "live") this.ping();
      else if (this.state === "reconnecting" && !this.ws) this.reconnectNow();
    };
    addEventListener("online", check);
    document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && check());
  }

  /** The server's clock now, for countdowns that must agree with the server's deadlines. */
  serverNow() {
    return Date.now() + this.offsetMs;
  }

  connect() {
    this.stopped = false;
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const base = this.url || `${scheme}://${location.host}/ws/live/${this.sessionId}/`;
    const query = this.lastSeq === null ? "" : `?last_seq=${this.lastSeq}`;
    const ws = new WebSocket(base + query);
    this.ws = ws;
    ws.addEventListener("open", () => this.heartbeat());
    // Frames of a socket already given up on (a missed pong) are not ours any more.
    ws.addEventListener("message", (event) => ws === this.ws && this.receive(event.data));
    ws.addEventListener("close", (event) => this.closed(ws, event.code));
    ws.addEventListener("error", () => {}); // a close event always follows
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
    this.ws?.close(1000);
    this.setState("closed");
  }

  /** Send a client message; resolves with the reply's data, rejects with LiveError. */
  send(type, data = {}, { timeoutMs = 10_000 } = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new LiveError("network", "not connected"));
    }
    const id = `c-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LiveError("timeout", "no reply"));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ type, id, data }));
    });
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    // Each frame's `ts` minus its arrival is the server's clock offset less the delay on
    // the way, so the largest such sample is the best estimate. A replayed event's old `ts`
    // gives a smaller sample and changes nothing. Each connection starts over at its
    // snapshot, so a local clock that was reset does not leave a stale estimate behind.
    if (frame.ts) {
      const ts = Date.parse(frame.ts);
      if (Number.isFinite(ts)) {
        const sample = ts - Date.now();
        this.offsetMs = frame.type === "snapshot" ? sample : Math.max(this.offsetMs, sample);
      }
    }
    if (frame.type === "pong") {
      clearTimeout(this.timers.pong);
      this.pongDue = false;
    }
    if (frame.reply_to) {
      const waiter = this.pending.get(frame.reply_to);
      if (waiter) {
        this.pending.delete(frame.reply_to);
        clearTimeout(waiter.timer);
        if (frame.type === "error") {
          const d = frame.data || {};
          waiter.reject(new LiveError(d.code || "invalid", d.message || "", d.retry_after_s ?? null));
        } else {
          waiter.resolve(frame.data);
        }
      }
      this.onReply(frame);
      return;
    }
    if (frame.type === "snapshot") {
      this.lastSeq = frame.data?.last_seq ?? this.lastSeq;
      this.attempt = 0;
      this.setState("live");
      this.onEvent(frame);
      return;
    }
    if (typeof frame.seq === "number") {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // seen already
      this.lastSeq = frame.seq;
    }
    this.onEvent(frame);
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null; // its close event, if it comes later, is not a second drop
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
    this.pongDue = false;
    for (const [id, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new LiveError("network", "connection lost"));
      this.pending.delete(id);
    }
    if (this.stopped || code === 4404) {
      this.setState("closed", { code });
      return;
    }
    const base = Math.min(BACKOFF_MAX_S, 2 ** this.attempt) * (code === 4429 ? 4 : 1);
    const delayS = Math.min(BACKOFF_MAX_S * 2, base) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.setState("reconnecting", { inS: Math.round(delayS) });
    this.timers.retry = setTimeout(() => this.connect(), delayS * 1000);
  }

  /** Stop waiting for the current socket: closed now, whenever its close event comes. */
  giveUp(code) {
    const ws = this.ws;
    ws?.close(code);
    this.closed(ws, code);
  }

  reconnectNow() {
    clearTimeout(this.timers.retry);
    const old = this.ws; // a try still under way would otherwise stay open, unheard
    this.ws = null;
    old?.close(1000);
    this.connect();
  }

  heartbeat() {
    clearInterval(this.timers.ping);
    this.timers.ping = setInterval(() => this.ping(), PING_EVERY_MS);
  }

  /** A ping the server must answer within PONG_WITHIN_MS; one at a time, so asking again
   * never pushes a deadline already running further out. */
  ping() {
    if (this.ws?.readyState !== WebSocket.OPEN || this.pongDue) return;
    this.ws.send(JSON.stringify({ type: "ping", id: `p-${this.nextId++}`, data: {} }));
    this.pongDue = true;
    this.timers.pong = setTimeout(() => this.giveUp(4000), PONG_WITHIN_MS);
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }
}
