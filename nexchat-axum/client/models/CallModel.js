// The one call this tab can have at a time. State only.

export class CallModel {
  constructor() {
    this.reset();
  }

  reset() {
    /** idle | outgoing | incoming | connecting | active */
    this.state = 'idle';
    /** @type {string|null} */ this.peer = null;
    /** @type {string|null} */ this.callId = null;
    this.withVideo = false;
    /** 'outgoing' | 'incoming' */
    this.direction = null;
    /** @type {RTCPeerConnection|null} */ this.pc = null;
    /** @type {MediaStream|null} */ this.localStream = null;
    /** @type {MediaStream|null} */ this.remoteStream = null;
    /** The offer of an incoming call, until it is answered. */
    this.remoteOffer = null;
    /** Remote ICE candidates that came before the remote description was set. */
    this.remoteCandidates = [];
    /** Our ICE candidates gathered before the server told us the call id. */
    this.localCandidates = [];
    this.connectedAt = null;
    this.muted = false;
    this.cameraOff = false;
  }

  get busy() {
    return this.state !== 'idle';
  }

  matches(peer, callId) {
    if (!this.busy || !this.peer || peer?.toLowerCase() !== this.peer.toLowerCase()) return false;
    return !callId || !this.callId || callId === this.callId;
  }
}
