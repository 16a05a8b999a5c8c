// The host's studio: camera preview, go live over WHIP (RFC 9725), stop.
//
// `publish()` is the code path every browser publisher uses (the studio page and the
// browser test): getUserMedia -> RTCPeerConnection(iceServers from the server's Link
// headers, none by default) -> full-gathered offer -> POST application/sdp -> answer.
// A web process answers 307 to the media process that holds the session; fetch follows it
// (CORS, with the session cookie). The 201's Location is the resource to DELETE.

const HD = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30, max: 30 } };

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

function gathered(pc, timeoutMs) {
  // aiortc answers with every candidate and takes no trickle: send a complete offer.
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

/** Publish `stream` to the session's WHIP endpoint; returns {pc, resource, stop()}. */
export async function publish({ whipUrl, stream, token = null, onState = () => {} }) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  let iceServers = [];
  try {
    const options = await fetch(whipUrl, { method: "OPTIONS", credentials: "include" });
    iceServers = iceServersFrom(options.headers);
  } catch {
    // no Link headers: host candidates only, which is right on a LAN and in tests
  }
  const pc = new RTCPeerConnection({ iceServers });
  pc.addEventListener("connectionstatechange", () => onState(pc.connectionState));
  for (const track of stream.getTracks()) {
    const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    if (track.kind === "video") {
      // A weak rural uplink: cap what the phone sends; the server re-encodes anyway.
      const params = transceiver.sender.getParameters();
      params.encodings = [{ maxBitrate: 1_200_000, maxFramerate: 30 }];
      transceiver.sender.setParameters(params).catch(() => {});
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 3000);
  const reply = await fetch(whipUrl, {
    method: "POST",
    credentials: "include",
    headers: { "Content-Type": "application/sdp", ...auth },
    body: pc.localDescription.sdp,
  });
  if (reply.status !== 201) {
    pc.close();
    let error = { code: "unavailable", message: `HTTP ${reply.status}` };
    try {
      error = (await reply.json()).error;
    } catch {}
    throw Object.assign(new Error(error.message), { code: error.code, reason: error.reason });
  }
  const resource = new URL(reply.headers.get("Location"), reply.url).href;
  await pc.setRemoteDescription({ type: "answer", sdp: await reply.text() });
  const stop = async () => {
    pc.close();
    await fetch(resource, { method: "DELETE", credentials: "include", headers: auth }).catch(
      () => {},
    );
  };
  return { pc, resource, stop };
}

/** Wire the studio page (frontend/templates/frontend/studio.html). */
export function mountStudio(root) {
  const sessionId = root.dataset.session;
  const whipUrl = `/api/sessions/${sessionId}/whip`;
  const preview = root.querySelector("video");
  const button = root.querySelector("[data-action=live]");
  const status = root.querySelector("[data-status]");
  let stream = null;
  let publication = null;

  const setState = (state, text) => {
    root.dataset.state = state;
    status.textContent = text;
  };

  async function startSessionIfNeeded() {
    const session = await (await fetch(`/api/sessions/${sessionId}/`)).json();
    if (session.status === "scheduled") {
      const csrf = root.querySelector("[name=csrfmiddlewaretoken]").value;
      const started = await fetch(`/api/sessions/${sessionId}/start/`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf },
      });
      if (!started.ok) throw new Error((await started.json()).error.message);
    } else if (session.status === "ended") {
      throw new Error(root.dataset.msgEnded);
    }
  }

  async function goLive() {
    button.disabled = true;
    setState("starting", root.dataset.msgStarting);
    try {
      stream ||= await navigator.mediaDevices.getUserMedia({ video: HD, audio: true });
      preview.srcObject = stream;
      await startSessionIfNeeded();
      publication = await publish({
        whipUrl,
        stream,
        onState: (state) => {
          if (state === "connected") setState("live", root.dataset.msgLive);
          if (state === "failed") setState("failed", root.dataset.msgFailed);
        },
      });
      button.textContent = root.dataset.msgStop;
    } catch (error) {
      setState("error", error.message);
      publication = null;
    } finally {
      button.disabled = false;
    }
  }

  async function stop() {
    await publication?.stop();
    publication = null;
    setState("idle", root.dataset.msgStopped);
    button.textContent = root.dataset.msgGoLive;
  }

  button.addEventListener("click", () => (publication ? stop() : goLive()));

  // Stream health, numbers, showcase, drops and chat run on the live socket
  // (frontend/studio_live.js, through socket.js): this module is the camera and WHIP only.
  setState("idle", root.dataset.msgIdle);
}

const root = document.querySelector("[data-studio]");
if (root) mountStudio(root);
