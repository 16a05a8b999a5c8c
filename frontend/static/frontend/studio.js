// The host's studio: camera preview, go live over WHIP (RFC 9725), stop.
//
// `publish()` is the code path every browser publisher uses (the studio page and the
// browser test): getUserMedia -> RTCPeerConnection(iceServers from the server's Link
// headers, none by default) -> full-gathered offer -> POST application/sdp -> answer.
// A web process answers 307 to the media process that holds the session; fetch follows it
// (CORS, with the session cookie). The 201's Location is the resource to DELETE.

import { api } from "./api.js";
import { errorText, messages } from "./i18n.js";
import { connect, iceServersOf } from "./webrtc.js";

export { iceServersFrom } from "./webrtc.js"; // kept importable from here for older callers

const CAMERA_ERRORS = new Set(["NotAllowedError", "NotFoundError", "NotReadableError", "OverconstrainedError", "SecurityError"]);
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
  return connect(pc, whipUrl, auth);
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

  const msg = messages(root);
  // What the host reads: getUserMedia's refusals (DOMException names) and the server's
  // codes, each in the page's language; never the browser's or the API's English message.
  const problem = (error) => {
    if (CAMERA_ERRORS.has(error?.name)) return msg("camera");
    return errorText(error, msg, { prefix: "golive" });
  };

  const setState = (state, text) => {
    root.dataset.state = state;
    status.textContent = text;
  };

  async function startSessionIfNeeded() {
    const session = await api(`/api/sessions/${sessionId}/`);
    if (session.status === "scheduled") {
      await api(`/api/sessions/${sessionId}/start/`, { method: "POST" });
    } else if (session.status === "ended") {
      throw Object.assign(new Error("ended"), { code: "ended" });
    }
  }

  async function goLive() {
    button.disabled = true;
    setState("starting", msg("starting"));
    try {
      stream ||= await navigator.mediaDevices.getUserMedia({ video: HD, audio: true });
      preview.srcObject = stream;
      await startSessionIfNeeded();
      publication = await publish({
        whipUrl,
        stream,
        onState: (state) => {
          if (state === "connected") setState("live", msg("live"));
          if (state === "failed") setState("failed", msg("failed"));
        },
      });
      button.textContent = msg("stop");
    } catch (error) {
      setState("error", problem(error));
      publication = null;
    } finally {
      button.disabled = false;
    }
  }

  async function stop() {
    await publication?.stop();
    publication = null;
    setState("idle", msg("stopped"));
    button.textContent = msg("go-live");
  }

  button.addEventListener("click", () => (publication ? stop() : goLive()));

  // Stream health, numbers, showcase, drops and chat run on the live socket
  // (frontend/studio_live.js, through socket.js): this module is the camera and WHIP only.
  setState("idle", msg("idle"));
}

const root = document.querySelector("[data-studio]");
if (root) mountStudio(root);
