// Incoming-call banner and the in-call screen. DOM only.
import { $, paintAvatar, setIcon } from './dom.js';
import { duration } from './format.js';

export class CallView {
  constructor() {
    this.banner = $('incoming-call');
    this.bannerTitle = $('incoming-title');
    this.bannerKind = $('incoming-kind');
    this.bannerAvatar = $('incoming-avatar');
    this.acceptBtn = $('accept-call-btn');
    this.declineBtn = $('decline-call-btn');
    this.overlay = $('call-overlay');
    this.remoteVideo = $('remote-video');
    this.localVideo = $('local-video');
    this.voiceArt = $('call-voice-art');
    this.callAvatar = $('call-avatar');
    this.peerName = $('call-peer');
    this.status = $('call-status');
    this.muteBtn = $('mute-btn');
    this.cameraBtn = $('camera-btn');
    this.hangupBtn = $('hangup-btn');
    this.fitBtn = $('fit-btn');
    this.fitBtn.addEventListener('click', () => this.setWhole(this.overlay.dataset.fit !== 'contain'));
    // A landscape picture on a portrait screen starts whole rather than cropped to fill it.
    this.remoteVideo.addEventListener('resize', () => {
      const v = this.remoteVideo;
      if (!this.fitChosen && v.videoWidth && v.videoHeight) this.setWhole((v.videoWidth > v.videoHeight) !== (innerWidth > innerHeight), false);
    });
    this.timer = null;
    this.lastFocus = null;

    this.overlay.addEventListener('keydown', (e) => this.trapFocus(e));
  }

  bind({ accept, decline, hangup, mute, camera }) {
    this.acceptBtn.addEventListener('click', () => accept());
    this.declineBtn.addEventListener('click', () => decline());
    this.hangupBtn.addEventListener('click', () => hangup());
    this.muteBtn.addEventListener('click', () => mute());
    this.cameraBtn.addEventListener('click', () => camera());
    this.banner.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') decline();
    });
  }

  showIncoming(from, withVideo) {
    this.bannerTitle.textContent = from;
    this.bannerKind.textContent = withVideo ? 'Incoming video call…' : 'Incoming voice call…';
    this.acceptBtn.setAttribute('aria-label', `Accept ${withVideo ? 'video' : 'voice'} call from ${from}`);
    this.declineBtn.setAttribute('aria-label', `Decline call from ${from}`);
    paintAvatar(this.bannerAvatar, from);
    this.banner.hidden = false;
    this.lastFocus = document.activeElement;
    requestAnimationFrame(() => this.banner.classList.add('show'));
    this.acceptBtn.focus();
  }

  hideIncoming() {
    this.banner.classList.remove('show');
    this.banner.hidden = true;
  }

  showCall(peer, withVideo, statusText) {
    this.peerName.textContent = peer;
    this.remoteVideo.setAttribute('aria-label', withVideo ? `Video of ${peer}` : `Audio of ${peer}`);
    this.localVideo.setAttribute('aria-label', 'Your camera');
    paintAvatar(this.callAvatar, peer);
    this.overlay.dataset.video = String(withVideo);
    this.overlay.dataset.state = 'connecting';
    this.voiceArt.hidden = withVideo;
    this.localVideo.hidden = !withVideo;
    this.cameraBtn.hidden = !withVideo;
    this.fitBtn.hidden = !withVideo;
    this.fitChosen = false;
    this.setWhole(false, false);
    this.setStatus(statusText);
    this.setMuted(false);
    this.setCameraOff(false);
    if (this.overlay.hidden) this.lastFocus = this.lastFocus ?? document.activeElement;
    this.overlay.hidden = false;
    this.hangupBtn.focus();
  }

  /** whole: the entire remote picture (letterboxed) instead of filling the screen. */
  setWhole(whole, chosen = true) {
    if (chosen) this.fitChosen = true;
    this.overlay.dataset.fit = whole ? 'contain' : 'cover';
    this.fitBtn.setAttribute('aria-pressed', String(whole));
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  setLocalStream(stream) {
    this.localVideo.srcObject = stream;
    this.localVideo.play().catch(() => {});
  }

  setRemoteStream(stream) {
    if (this.remoteVideo.srcObject !== stream) this.remoteVideo.srcObject = stream;
    this.remoteVideo.play().catch(() => {});
  }

  /** Shows the running time of a connected call. */
  startTimer(since) {
    this.overlay.dataset.state = 'active';
    clearInterval(this.timer);
    const tick = () => this.setStatus(duration((Date.now() - since) / 1000));
    tick();
    this.timer = setInterval(tick, 1000);
  }

  setMuted(muted) {
    this.muteBtn.setAttribute('aria-pressed', String(muted));
    this.muteBtn.setAttribute('aria-label', muted ? 'Unmute microphone' : 'Mute microphone');
    this.muteBtn.classList.toggle('off', muted);
    setIcon(this.muteBtn, muted ? 'mic-off' : 'mic');
  }

  setCameraOff(off) {
    this.cameraBtn.setAttribute('aria-pressed', String(off));
    this.cameraBtn.setAttribute('aria-label', off ? 'Turn camera on' : 'Turn camera off');
    this.cameraBtn.classList.toggle('off', off);
    setIcon(this.cameraBtn, off ? 'video-off' : 'video');
    this.localVideo.classList.toggle('camera-off', off);
  }

  hideCall() {
    clearInterval(this.timer);
    this.timer = null;
    this.overlay.hidden = true;
    delete this.overlay.dataset.state;
    this.remoteVideo.srcObject = null;
    this.localVideo.srcObject = null;
    const back = this.lastFocus;
    this.lastFocus = null;
    if (back && document.contains(back)) back.focus();
  }

  trapFocus(e) {
    if (e.key !== 'Tab') return;
    const focusable = [this.muteBtn, this.cameraBtn, this.fitBtn, this.hangupBtn].filter((b) => !b.hidden);
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      last.focus();
      e.preventDefault();
    } else if (!e.shiftKey && document.activeElement === last) {
      first.focus();
      e.preventDefault();
    }
  }
}
