// WebRTC calls. The server only relays signalling (offer, answer, ICE, end) and keeps the call
// log; media flows between the browsers. ICE candidates that arrive before the remote
// description is set are queued, and so are ours until the server has told us the call id.

export class CallController {
  constructor({ auth, users, call, conn, views, socket, chats, api }) {
    this.auth = auth;
    this.users = users;
    this.call = call;
    this.conn = conn;
    this.views = views;
    this.socket = socket;
    this.chats = chats;
    this.api = api;
    views.call.bind({
      accept: () => this.accept(),
      decline: () => this.decline(),
      hangup: () => this.hangup(),
      mute: () => this.toggleMute(),
      camera: () => this.toggleCamera(),
    });
    views.page.bindUnload(() => {
      if (this.call.busy && this.call.peer) this.sendEnd();
    });
  }

  events() {
    return {
      call_offer: (ev) => this.onOffer(ev),
      call_started: (ev) => this.onStarted(ev),
      call_answer: (ev) => this.onAnswer(ev),
      call_ice: (ev) => this.onIce(ev),
      call_ended: (ev) => this.onEnded(ev),
      call_answered_elsewhere: (ev) => this.onAnsweredElsewhere(ev),
      call_logged: (ev) => this.onLogged(ev),
      error: (ev) => this.onError(ev),
    };
  }

  async iceServers() {
    if (!this.conn.iceServersLoaded) {
      try {
        const cfg = await this.api.clientConfig();
        this.conn.iceServers = Array.isArray(cfg?.iceServers) ? cfg.iceServers : [];
        this.conn.iceServersLoaded = true;
      } catch {
        this.conn.iceServers = [];
      }
    }
    return this.conn.iceServers;
  }

  async getMedia(withVideo) {
    return navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: withVideo ? { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' } : false,
    });
  }

  mediaError(err) {
    const name = err?.name;
    if (name === 'NotAllowedError') return 'Camera or microphone permission was denied.';
    if (name === 'NotFoundError') return 'No camera or microphone was found.';
    return `Could not start camera or microphone${err?.message ? `: ${err.message}` : ''}.`;
  }

  async createPeer() {
    const pc = new RTCPeerConnection({ iceServers: await this.iceServers() });
    const call = this.call;
    pc.onicecandidate = (e) => {
      if (!e.candidate || this.call.pc !== pc) return;
      const candidate = e.candidate.toJSON();
      if (call.callId) this.sendIce(candidate);
      else call.localCandidates.push(candidate);
    };
    pc.ontrack = (e) => {
      if (this.call.pc !== pc) return;
      const stream = e.streams[0] ?? call.remoteStream ?? new MediaStream();
      if (!e.streams[0]) stream.addTrack(e.track);
      call.remoteStream = stream;
      this.views.call.setRemoteStream(stream);
    };
    pc.onconnectionstatechange = () => {
      if (this.call.pc !== pc) return;
      const state = pc.connectionState;
      if (state === 'connected') {
        if (call.state !== 'active') {
          call.state = 'active';
          call.connectedAt = Date.now();
          this.views.call.startTimer(call.connectedAt);
        }
      } else if (state === 'disconnected') {
        this.views.call.setStatus('Reconnecting…');
      } else if (state === 'failed') {
        this.views.toast.show('The call connection failed.', 'error');
        this.hangup();
      }
    };
    call.pc = pc;
    return pc;
  }

  sendIce(candidate) {
    this.socket.send({ type: 'call_ice', to: this.call.peer, candidate, callId: this.call.callId });
  }

  sendEnd() {
    const ev = { type: 'call_ended', to: this.call.peer };
    if (this.call.callId) ev.callId = this.call.callId;
    this.socket.send(ev);
  }

  async flushRemoteCandidates() {
    const { pc } = this.call;
    const queued = this.call.remoteCandidates.splice(0);
    for (const c of queued) {
      try { await pc.addIceCandidate(c); } catch (err) { console.warn('ICE candidate refused', err); }
    }
  }

  // --- placing a call -------------------------------------------------------------------

  async start(withVideo) {
    const peer = this.chats.chat.active;
    if (!peer) return;
    if (this.call.busy) {
      this.views.toast.show('You are already in a call.', 'warning');
      return;
    }
    if (!this.socket.isOpen) {
      this.views.toast.show('You are offline. Calls need a connection.', 'error');
      return;
    }
    const call = this.call;
    call.state = 'outgoing';
    call.direction = 'outgoing';
    call.peer = peer;
    call.withVideo = withVideo;
    this.views.call.showCall(peer, withVideo, 'Calling…');
    let stream;
    try {
      stream = await this.getMedia(withVideo);
    } catch (err) {
      this.views.toast.show(this.mediaError(err), 'error');
      this.teardown();
      return;
    }
    if (this.call !== call || call.state !== 'outgoing' || call.peer !== peer) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    call.localStream = stream;
    if (withVideo) this.views.call.setLocalStream(stream);
    const pc = await this.createPeer();
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (call.state !== 'outgoing') return;
    if (!this.socket.send({ type: 'call_offer', to: peer, offer: { type: offer.type, sdp: offer.sdp }, withVideo })) {
      this.views.toast.show('Connection lost. Call not placed.', 'error');
      this.teardown();
      return;
    }
    this.views.call.setStatus('Ringing…');
    this.alerts?.callState('outgoing');
  }

  onStarted(ev) {
    const call = this.call;
    if (call.state !== 'outgoing' || call.callId || !call.matches(ev.to)) return;
    call.callId = ev.callId;
    for (const c of call.localCandidates.splice(0)) this.sendIce(c);
  }

  async onAnswer(ev) {
    const call = this.call;
    if (!call.matches(ev.from, ev.callId) || call.direction !== 'outgoing' || !call.pc) return;
    if (ev.callId && !call.callId) {
      call.callId = ev.callId;
      for (const c of call.localCandidates.splice(0)) this.sendIce(c);
    }
    if (call.state === 'outgoing') call.state = 'connecting';
    this.alerts?.callState(call.state);
    this.views.call.setStatus('Connecting…');
    try {
      await call.pc.setRemoteDescription(ev.answer);
      await this.flushRemoteCandidates();
    } catch (err) {
      this.views.toast.show(`Call setup failed: ${err.message}`, 'error');
      this.hangup();
    }
  }

  async onIce(ev) {
    const call = this.call;
    if (!call.matches(ev.from, ev.callId) || !ev.candidate) return;
    if (call.pc && call.pc.remoteDescription) {
      try { await call.pc.addIceCandidate(ev.candidate); } catch (err) { console.warn('ICE candidate refused', err); }
    } else {
      call.remoteCandidates.push(ev.candidate);
    }
  }

  // --- receiving a call -----------------------------------------------------------------

  onOffer(ev) {
    if (this.call.busy) {
      // We are in another call: say no rather than leave the caller ringing.
      this.socket.send({ type: 'call_ended', to: ev.from, callId: ev.callId });
      return;
    }
    const call = this.call;
    call.state = 'incoming';
    call.direction = 'incoming';
    call.peer = this.users.friendName(ev.from) ?? ev.from;
    call.callId = ev.callId ?? null;
    call.withVideo = !!ev.withVideo;
    call.remoteOffer = ev.offer;
    this.views.call.showIncoming(call.peer, call.withVideo);
    this.alerts?.callState('incoming');
    this.alerts?.incomingCall(call.peer, call.withVideo);
  }

  async accept() {
    const call = this.call;
    if (call.state !== 'incoming') return;
    call.state = 'connecting';
    this.alerts?.callState(call.state);
    this.views.call.hideIncoming();
    this.chats.open(call.peer);
    this.views.call.showCall(call.peer, call.withVideo, 'Connecting…');
    let stream;
    try {
      stream = await this.getMedia(call.withVideo);
    } catch (err) {
      this.views.toast.show(this.mediaError(err), 'error');
      this.hangup();
      return;
    }
    if (this.call.state !== 'connecting') {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    call.localStream = stream;
    if (call.withVideo) this.views.call.setLocalStream(stream);
    try {
      const pc = await this.createPeer();
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
      await pc.setRemoteDescription(call.remoteOffer);
      await this.flushRemoteCandidates();
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      const ev = { type: 'call_answer', to: call.peer, answer: { type: answer.type, sdp: answer.sdp } };
      if (call.callId) ev.callId = call.callId;
      this.socket.send(ev);
    } catch (err) {
      this.views.toast.show(`Call setup failed: ${err.message}`, 'error');
      this.hangup();
    }
  }

  decline() {
    if (this.call.state !== 'incoming') return;
    this.sendEnd();
    this.teardown();
  }

  hangup() {
    if (!this.call.busy) return;
    if (this.call.peer) this.sendEnd();
    this.teardown();
  }

  onEnded(ev) {
    const call = this.call;
    if (!call.matches(ev.from, ev.callId)) return;
    if (call.state === 'incoming') this.views.toast.show(`Missed call from ${call.peer}.`, 'warning');
    // The callee ended a call that was still ringing: they declined it.
    else if (call.state === 'outgoing') this.views.toast.show(`${call.peer} declined the call.`, 'info');
    else this.views.toast.show(`Call with ${call.peer} ended.`, 'info');
    this.teardown();
  }

  /** Another device of this user answered the call ringing here: stop ringing, say where it went. */
  onAnsweredElsewhere(ev) {
    const call = this.call;
    if (call.state !== 'incoming' || (ev.callId && call.callId && ev.callId !== call.callId)) return;
    this.views.toast.show(`Call from ${call.peer} answered on another device.`, 'info');
    this.teardown();
  }

  onLogged(ev) {
    const record = ev.call;
    if (!record || !record.callId) return;
    this.chats.addCall(record);
    if (this.call.busy && this.call.callId === record.callId) this.teardown();
  }

  onError(ev) {
    const call = this.call;
    if (!call.busy) return false;
    const ours = ev.ref ? ev.ref === call.callId || (call.state === 'outgoing' && !call.callId) : call.state === 'outgoing';
    if (!ours || !['offline', 'busy', 'not_friends', 'not_found', 'user_not_found', 'bad_request'].includes(ev.code)) return false;
    const text = {
      offline: `${call.peer} is offline.`,
      busy: `${call.peer} is in another call.`,
      not_friends: `You can only call friends.`,
    }[ev.code] ?? `Call failed: ${ev.message ?? ev.code}`;
    this.views.toast.show(text, 'warning');
    this.teardown();
    return true;
  }

  /** The socket closed; the server ends our call when its socket goes. */
  onDisconnected() {
    if (!this.call.busy) return;
    this.views.toast.show('Connection lost: the call ended.', 'error');
    this.teardown();
  }

  // --- controls -------------------------------------------------------------------------

  toggleMute() {
    const call = this.call;
    if (!call.localStream) return;
    call.muted = !call.muted;
    for (const t of call.localStream.getAudioTracks()) t.enabled = !call.muted;
    this.views.call.setMuted(call.muted);
  }

  toggleCamera() {
    const call = this.call;
    if (!call.localStream || !call.withVideo) return;
    call.cameraOff = !call.cameraOff;
    for (const t of call.localStream.getVideoTracks()) t.enabled = !call.cameraOff;
    this.views.call.setCameraOff(call.cameraOff);
  }

  teardown() {
    const call = this.call;
    this.alerts?.callState('idle');
    if (call.pc) {
      call.pc.onicecandidate = null;
      call.pc.ontrack = null;
      call.pc.onconnectionstatechange = null;
      try { call.pc.close(); } catch { /* already closed */ }
    }
    call.localStream?.getTracks().forEach((t) => t.stop());
    this.views.call.hideIncoming();
    this.views.call.hideCall();
    call.reset();
  }
}
