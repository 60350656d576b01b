// The open conversation: header, timeline (messages, calls, notices, day separators, the "new
// messages" line), the jump to the latest message, typing indicator and composer, or the note
// that replaces the composer when the other user is no longer a friend. DOM only.
import { $, h, icon, paintAvatar } from './dom.js';
import { clock, dayKey, dayLabel, duration, durationWords } from './format.js';
import { describeCall } from './callLabel.js';

/** What of a message's attachments changes its bubble: which files, and whether they are uploaded. */
export function attachmentSig(m) {
  return (m.attachments ?? []).map((a) => a.id ?? a.localId ?? '').join(',');
}

const TICK = {
  pending: { icon: 'clock', label: 'Sending' },
  sent: { icon: 'check', label: 'Sent' },
  delivered: { icon: 'check-double', label: 'Delivered' },
  seen: { icon: 'check-double', label: 'Seen' },
  failed: { icon: 'alert', label: 'Not sent' },
};

export class ChatView {
  constructor() {
    this.empty = $('chat-empty');
    this.chat = $('chat');
    this.peerName = $('chat-peer-name');
    this.peerStatus = $('chat-peer-status');
    this.avatar = $('chat-avatar');
    this.scroller = $('messages');
    this.list = $('timeline');
    this.loader = $('history-loader');
    this.typing = $('typing-indicator');
    this.typingText = $('typing-text');
    this.form = $('composer');
    this.input = $('composer-input');
    this.sendBtn = $('send-btn');
    this.backBtn = $('chat-back');
    this.voiceBtn = $('voice-call-btn');
    this.videoBtn = $('video-call-btn');
    this.safetyBtn = $('safety-btn');
    this.unfriendBtn = $('unfriend-btn');
    this.jumpBtn = $('jump-latest');
    this.jumpCount = $('jump-count');
    this.readOnlyNote = $('chat-readonly');
    this.trustTag = $('chat-trust');
    /** id -> {sig, node} so a re-render keeps nodes (and their animations) that did not change */
    this.nodes = new Map();
    this.peer = null;
    /** Set by the app: whether the composer may send without text (files wait in it). */
    this.canSendEmpty = () => false;
    /** Set by the app: the nodes of a message's attachments; and forgetting those of closed chats. */
    this.attachmentNodes = () => [];
    this.pruneAttachments = () => {};
    this.input.addEventListener('input', () => this.autoGrow());
  }

  // --- bindings -------------------------------------------------------------------------

  bindSend(handler) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = this.input.value;
      // Without text only when files wait in the composer (views/AttachmentView.js).
      if (!text.trim() && !this.canSendEmpty()) return;
      this.input.value = '';
      this.autoGrow();
      handler(text);
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
  }

  bindTyping(handler) {
    this.input.addEventListener('input', () => handler(this.input.value.length > 0));
    this.input.addEventListener('blur', () => handler(false));
  }

  bindRetry(handler) {
    this.list.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-retry]');
      if (btn) handler(btn.dataset.retry);
    });
  }

  bindNearTop(handler) {
    this.scroller.addEventListener('scroll', () => {
      if (this.scroller.scrollTop < 80) handler();
    }, { passive: true });
  }

  /** handler() after the user scrolled (at most once a frame). */
  bindScrolled(handler) {
    let queued = false;
    this.scroller.addEventListener('scroll', () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        this.updateJump();
        handler();
      });
    }, { passive: true });
  }

  bindJumpLatest(handler) {
    this.jumpBtn.addEventListener('click', () => {
      this.scrollToBottom();
      this.updateJump();
      handler();
    });
  }

  bindHeaderActions({ back, voice, video, safety, unfriend }) {
    this.backBtn.addEventListener('click', () => back());
    this.voiceBtn.addEventListener('click', () => voice());
    this.videoBtn.addEventListener('click', () => video());
    this.safetyBtn.addEventListener('click', () => safety());
    this.unfriendBtn.addEventListener('click', () => unfriend());
  }

  /** Escape on a narrow screen goes back to the list (not while a dialog or call is up). */
  bindEscapeBack(handler) {
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || this.chat.hidden) return;
      if (document.querySelector('dialog[open]') || !document.getElementById('call-overlay').hidden) return;
      if (window.matchMedia('(max-width: 760px)').matches) handler();
    });
  }

  // --- header ---------------------------------------------------------------------------

  open(peer) {
    const changed = this.peer !== peer;
    this.peer = peer;
    this.empty.hidden = true;
    this.chat.hidden = false;
    this.chat.dataset.peer = peer;
    this.peerName.textContent = peer;
    paintAvatar(this.avatar, peer);
    this.voiceBtn.setAttribute('aria-label', `Start voice call with ${peer}`);
    this.videoBtn.setAttribute('aria-label', `Start video call with ${peer}`);
    this.unfriendBtn.setAttribute('aria-label', `Remove ${peer} from friends`);
    this.safetyBtn.setAttribute('aria-label', `Show safety number with ${peer}`);
    if (changed) {
      this.nodes.clear();
      this.list.replaceChildren();
      this.pruneAttachments();
      this.input.value = '';
      this.autoGrow();
      this.showTyping(false);
    }
  }

  close() {
    this.peer = null;
    this.chat.hidden = true;
    this.empty.hidden = false;
    delete this.chat.dataset.peer;
    this.nodes.clear();
    this.list.replaceChildren();
    this.pruneAttachments();
  }

  /** state: 'verified' | 'changed' | 'none' (see TrustModel). */
  renderTrust(state) {
    this.trustTag.hidden = state === 'none';
    this.trustTag.dataset.state = state;
    this.trustTag.textContent = state === 'verified' ? 'Verified' : state === 'changed' ? 'Key changed: verify again' : '';
  }

  renderPeerStatus({ online, typing }) {
    this.peerStatus.dataset.online = String(online);
    this.peerStatus.textContent = typing ? 'typing…' : online ? 'online' : 'offline';
  }

  /**
   * A friend's chat has the composer and calls; a former friend's is read only, with a note
   * saying why nothing can be sent.
   */
  setReadOnly(readOnly, peer = this.peer) {
    this.voiceBtn.disabled = readOnly;
    this.videoBtn.disabled = readOnly;
    this.unfriendBtn.hidden = readOnly;
    this.form.hidden = readOnly;
    this.readOnlyNote.hidden = !readOnly;
    this.chat.dataset.readonly = String(readOnly);
    this.readOnlyNote.textContent = readOnly
      ? `You and ${peer} are no longer friends. You can read your history, but you can't send messages or call.`
      : '';
  }

  showTyping(isTyping, peer = this.peer) {
    this.typing.hidden = !isTyping;
    this.typingText.textContent = isTyping ? `${peer} is typing…` : '';
  }

  focusComposer() {
    this.input.focus();
  }

  autoGrow() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  // --- timeline -------------------------------------------------------------------------

  isNearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** True when the list does not fill the pane, so there is nothing to scroll up to yet. */
  needsMoreToScroll() {
    return this.scroller.scrollHeight <= this.scroller.clientHeight + 40;
  }

  setLoadingOlder(loading) {
    this.loader.hidden = !loading;
  }

  /** How many unread messages are below; shown on the jump button. */
  setUnreadBelow(count) {
    this.unreadBelow = count;
    this.jumpCount.textContent = count > 99 ? '99+' : String(count);
    this.jumpCount.hidden = count === 0;
    this.jumpBtn.setAttribute('aria-label', count ? `Jump to the latest message, ${count} unread` : 'Jump to the latest message');
  }

  /** The jump button shows while the newest messages are out of view. */
  updateJump() {
    this.jumpBtn.hidden = this.chat.hidden || this.isNearBottom();
  }

  /**
   * Which of `ids` the user has scrolled to: their top edge has been above the bottom of the
   * visible part of the timeline. Nothing counts while the chat is not on screen.
   */
  reachedIds(ids) {
    if (this.chat.hidden) return [];
    const bottom = this.scroller.getBoundingClientRect().bottom;
    return ids.filter((id) => {
      const node = this.nodes.get(id)?.node;
      if (!node || !node.isConnected) return false;
      const box = node.getBoundingClientRect();
      return box.height > 0 && box.top < bottom - 4;
    });
  }

  /**
   * Renders the whole timeline, oldest first, with the "new messages" line above `unreadFrom`.
   * mode: 'append' keeps the bottom in view when it was; 'prepend' keeps the visible items
   * in place after older ones were inserted above; 'bottom' jumps to the newest; 'initial' shows
   * the "new messages" line at the top when there is one, else the newest.
   */
  render(items, me, mode = 'append', unreadFrom = null) {
    const s = this.scroller;
    const wasNearBottom = this.isNearBottom();
    const oldHeight = s.scrollHeight;
    const oldTop = s.scrollTop;

    const children = [];
    let lastDay = null;
    const seen = new Set();
    for (const item of items) {
      const day = dayKey(item.timestamp);
      if (day !== lastDay) {
        lastDay = day;
        const label = dayLabel(item.timestamp);
        const key = `day-${day}`;
        seen.add(key);
        let sep = this.nodes.get(key);
        if (!sep || sep.sig !== label) {
          sep = { sig: label, node: h('li', { className: 'day-sep' }, h('span', { text: label })) };
          this.nodes.set(key, sep);
        }
        children.push(sep.node);
      }
      if (item.id === unreadFrom) {
        seen.add('new-sep');
        let line = this.nodes.get('new-sep');
        if (!line) {
          line = { sig: '', node: h('li', { className: 'new-sep', id: 'new-messages-line' }, h('span', { text: 'New messages' })) };
          this.nodes.set('new-sep', line);
        }
        children.push(line.node);
      }
      seen.add(item.id);
      children.push(this.nodeFor(item, me));
    }
    for (const id of [...this.nodes.keys()]) if (!seen.has(id)) this.nodes.delete(id);
    this.patch(children);

    const line = this.nodes.get('new-sep')?.node;
    if (mode === 'initial' && line) s.scrollTop = Math.max(0, line.offsetTop - 8);
    else if (mode === 'bottom' || mode === 'initial' || (mode === 'append' && wasNearBottom)) this.scrollToBottom();
    else if (mode === 'prepend') s.scrollTop = oldTop + (s.scrollHeight - oldHeight);
    this.updateJump();
  }

  /** Puts the nodes in order, moving only those out of place (a move would replay animations). */
  patch(children) {
    const list = this.list;
    children.forEach((node, i) => {
      const at = list.children[i];
      if (at !== node) list.insertBefore(node, at ?? null);
    });
    while (list.children.length > children.length) list.lastElementChild.remove();
  }

  nodeFor(item, me) {
    const sig = this.signature(item);
    const cached = this.nodes.get(item.id);
    if (cached && cached.sig === sig) return cached.node;
    let node;
    if (item.kind === 'message') node = this.messageNode(item, me);
    else if (item.kind === 'call') node = this.callNode(item.call, me);
    else node = this.noticeNode(item);
    if (cached && item.kind === 'message' && cached.status !== 'seen' && item.status === 'seen') node.classList.add('just-seen');
    this.nodes.set(item.id, { sig, node, status: item.status });
    return node;
  }

  signature(item) {
    if (item.kind === 'message') return `m|${item.status}|${item.resend ? 1 : 0}|${item.text ?? ''}|${item.decryptFailed ? 1 : 0}|${item.timestamp}|${attachmentSig(item)}|${item.failReason ?? ''}`;
    if (item.kind === 'call') return `c|${item.call.status}|${item.call.endReason ?? ''}|${item.call.duration}`;
    return `n|${item.text}`;
  }

  messageNode(m, me) {
    const outgoing = m.outgoing;
    const who = h('span', { className: 'visually-hidden', text: outgoing ? 'You: ' : `${m.sender}: ` });
    const files = m.decryptFailed ? [] : this.attachmentNodes(m);
    let text = null;
    if (m.decryptFailed) {
      text = h('p', { className: 'text undecryptable' }, icon('lock', 'icon inline'), ' This message could not be decrypted (the key changed or it was tampered with).');
    } else if (m.text || !files.length) text = h('p', { className: 'text', text: m.text ?? '' });
    const meta = h('span', { className: 'meta' }, h('time', { dateTime: new Date(m.timestamp).toISOString(), text: clock(m.timestamp) }));
    if (outgoing) {
      const t = TICK[m.status] ?? TICK.sent;
      meta.append(h('span', { className: 'ticks', dataset: { status: m.status }, role: 'img', 'aria-label': t.label, title: t.label }, icon(t.icon, 'icon tick')));
    }
    const bubble = h('div', { className: `bubble${files.length ? ' has-files' : ''}` }, who, ...files, text, meta);
    const li = h('li', {
      className: `msg ${outgoing ? 'out' : 'in'}${m.status === 'failed' ? ' failed' : ''}`,
      dataset: { id: m.id, status: m.status, sender: m.sender },
    }, bubble);
    if (m.status === 'failed') {
      li.append(h('div', { className: 'failed-row' },
        h('span', { text: m.resend ? 'Not sent yet: sending again when connected.' : m.failReason ? `Not sent. ${m.failReason}` : 'Not sent.' }),
        h('button', { type: 'button', className: 'btn btn-small btn-ghost retry', dataset: { retry: m.id }, 'aria-label': 'Retry sending this message' }, icon('retry'), 'Retry')));
    }
    return li;
  }

  callNode(call, me) {
    const { title, missed, icon: iconName, outgoing, answered } = describeCall(call, me);
    const details = [];
    if (answered) details.push(h('span', { className: 'call-duration', 'aria-label': durationWords(call.duration ?? 0), text: duration(call.duration ?? 0) }));
    details.push(h('time', { className: 'call-time', dateTime: new Date(call.startedAt).toISOString(), text: clock(call.startedAt) }));
    return h('li', {
      className: `call-record ${missed ? 'missed' : answered ? 'completed' : 'unanswered'} ${outgoing ? 'outgoing' : 'incoming'}`,
      dataset: {
        callId: call.callId, status: call.status, reason: call.endReason ?? '', direction: outgoing ? 'outgoing' : 'incoming', type: call.type,
      },
    }, h('div', { className: 'call-chip' },
      h('span', { className: 'call-icon' }, icon(iconName)),
      h('span', { className: 'call-title', text: title }),
      h('span', { className: 'call-details' }, ...details)));
  }

  noticeNode(n) {
    return h('li', { className: `notice ${n.level}`, role: 'note', dataset: { noticeId: n.id } },
      icon(n.level === 'info' ? 'shield' : 'alert'), h('span', { text: n.text }));
  }
}
