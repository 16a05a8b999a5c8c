// WebRTC signalling shared by the publisher (studio.js, WHIP) and the player (live.js, WHEP):
// both are "POST a complete offer as application/sdp, get a 201 answer and a Location"
// (RFC 9725 and the WHEP draft). aiortc takes no trickle ICE, so offers wait for gathering.
// A web process may answer 307 to the media process that holds the session; fetch follows
// it (CORS, with the session cookie).

/** ICE servers from `Link: <url>; rel="ice-server"` headers (RFC 9725 section 4.6). */
export function iceServersFrom(headers) {
  const servers = [];
  for (const part of (headers.get("Link") || "").split(/,\s*(?=<)/)) {
    const url = /^<([^>]+)>/.exec(part);
    if (!url || !/rel="ice-server"/.test(part)) continue;
    const server = { urls: [url[1]] };
    const user = /username="([^"]*)"/.exec(part);
    const credential = /credential="([^"]*)"/.exec(part);
    if (user) server.username = decodeURIComponent(user[1]);
    if (credential) server.credential = decodeURIComponent(credential[1]);
    servers.push(server);
  }
  return servers;
}

/** Resolves once ICE gathering is complete, or after `timeoutMs` with what there is. */
export function gathered(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs); // whatever we have by then
  });
}

/** The ICE servers an endpoint advertises on OPTIONS; none (host candidates) if it says nothing. */
export async function iceServersOf(url, headers = {}) {
  try {
    const options = await fetch(url, { method: "OPTIONS", credentials: "include", headers });
    return iceServersFrom(options.headers);
  } catch {
    return []; // right on a LAN and in tests
  }
}

/**
 * POST the peer connection's complete offer to a WHIP/WHEP endpoint and apply the answer.
 * Returns the resource URL (the 201's Location, to DELETE when done); throws an Error with
 * the contract's `code` (and `reason`, `retryAfterS`) when refused.
 */
export async function exchange(pc, url, headers = {}) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 3000);
  const reply = await fetch(url, {
    method: "POST",
    credentials: "include",
    headers: { "Content-Type": "application/sdp", ...headers },
    body: pc.localDescription.sdp,
  });
  if (reply.status !== 201) {
    let error = { code: "unavailable", message: `HTTP ${reply.status}` };
    try {
      error = (await reply.json()).error;
    } catch {}
    throw Object.assign(new Error(error.message), {
      code: error.code,
      reason: error.reason,
      retryAfterS: error.retry_after_s ?? null,
      status: reply.status,
    });
  }
  const resource = new URL(reply.headers.get("Location"), reply.url).href;
  await pc.setRemoteDescription({ type: "answer", sdp: await reply.text() });
  return resource;
}

/**
 * The exchange as publisher and player both use it: returns {pc, resource, stop()}, where
 * stop() hangs up (hangUp below). A refused exchange closes `pc` before it throws.
 */
export async function connect(pc, url, headers = {}) {
  let resource;
  try {
    resource = await exchange(pc, url, headers);
  } catch (error) {
    pc.close();
    throw error;
  }
  return { pc, resource, stop: () => hangUp(pc, resource, headers) };
}

/**
 * Play a session over WHEP into `video`: recvonly audio and video, one quality level
 * (`auto` lets the server step between hd and low by loss). Returns {pc, resource, stop()}.
 */
export async function play({ whepUrl, video, quality = "auto", onState = () => {} }) {
  const url = `${whepUrl}${whepUrl.includes("?") ? "&" : "?"}quality=${encodeURIComponent(quality)}`;
  const pc = new RTCPeerConnection({ iceServers: await iceServersOf(url) });
  const stream = new MediaStream();
  pc.addEventListener("track", (event) => {
    stream.addTrack(event.track);
    if (video.srcObject !== stream) video.srcObject = stream;
  });
  // Once stopping, the connection's last gasps (the server hanging up first) are not news.
  let stopping = false;
  pc.addEventListener("connectionstatechange", () => stopping || onState(pc.connectionState));
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const session = await connect(pc, url);
  const stop = () => {
    stopping = true;
    return session.stop();
  };
  return { ...session, stop };
}

/**
 * End a WHIP/WHEP session: DELETE its resource, then close the peer connection. Closed
 * first, the media process sees the peer go and drops the resource itself, and the DELETE
 * meets a 404 (an error in the console on every stop). A DELETE stuck on a dead link holds
 * the connection open at most `waitMs`.
 */
export async function hangUp(pc, resource, headers = {}, waitMs = 2000) {
  const deleted = fetch(resource, { method: "DELETE", credentials: "include", headers });
  await Promise.race([deleted.catch(() => {}), new Promise((done) => setTimeout(done, waitMs))]);
  pc.close();
}
