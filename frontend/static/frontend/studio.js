// The host's studio: camera preview, go live over WHIP (RFC 9725), stop, stream health.
//
// `publish()` is the code path every browser publisher uses (the studio page and the
// browser test): getUserMedia -> RTCPeerConnection(iceServers from the server's Link
// headers, none by default) -> full-gathered offer -> POST application/sdp -> answer.
// A web process answers 307 to the media process that holds the session; fetch follows it
// (CORS, with the session cookie). The 201's Location is the resource to DELETE.

import { exchange, iceServersOf } from "./webrtc.js";

export { iceServersFrom } from "./webrtc.js"; // kept importable from here for older callers

const HD = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30, max: 30 } };

/** Publish `stream` to the session's WHIP endpoint; returns {pc, resource, stop()}. */
export async function publish({ whipUrl, stream, token = null, onState = () => {} }) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const iceServers = await iceServersOf(whipUrl);
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
  let resource;
  try {
    resource = await exchange(pc, whipUrl, auth);
  } catch (error) {
    pc.close();
    throw error;
  }
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
  const health = root.querySelector("[data-health]");
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

  // Stream health for the host, from the live channel (the `stream.health` frame).
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/live/${sessionId}/`);
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type !== "stream.health") return;
    const h = frame.data;
    health.textContent = h.publishing
      ? `${h.width}×${h.height} · ${h.fps} fps · ${h.bitrate_kbps} kbps · ${h.viewers} ${root.dataset.msgViewers}`
      : "—";
  });
  setState("idle", root.dataset.msgIdle);
}

const root = document.querySelector("[data-studio]");
if (root) mountStudio(root);
