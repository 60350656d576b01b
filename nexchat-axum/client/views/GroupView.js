// Group chats on screen: the groups in the sidebar, the open group (header, timeline with sender
// names and system lines, typing, composer), the new-group dialog, the member list and the
// message info. DOM only.
import { $, h, icon, paintAvatar, typingDots } from './dom.js';
import { clock, dayKey, dayLabel } from './format.js';
import { attachmentSig } from './ChatView.js';

const TICK = {
  pending: { icon: 'clock', label: 'Sending' },
  sent: { icon: 'check', label: 'Sent' },
  delivered: { icon: 'check-double', label: 'Delivered to everyone' },
  seen: { icon: 'check-double', label: 'Seen by everyone' },
  failed: { icon: 'alert', label: 'Not sent' },
};

const STATUS_WORDS = { sent: 'Not delivered yet', delivered: 'Delivered', seen: 'Seen' };

/** The same hue for a name everywhere (as avatars use). */
export function hueOf(name) {
  let v = 0;
  for (const ch of String(name).toLowerCase()) v = (v * 31 + ch.codePointAt(0)) % 360;
  return v;
}

export class GroupView {
  constructor() {
    this.appScreen = $('app-screen');
    this.list = $('groups-list');
    this.newBtn = $('new-group-btn');
    this.empty = $('chat-empty');
    this.pane = $('group-chat');
    this.name = $('group-name');
    this.status = $('group-status');
    this.avatar = $('group-avatar');
    this.backBtn = $('group-back');
    this.membersBtn = $('group-members-btn');
    this.scroller = $('group-messages');
    this.timeline = $('group-timeline');
    this.loader = $('group-history-loader');
    this.typing = $('group-typing');
    this.typingText = $('group-typing-text');
    this.readOnly = $('group-readonly');
    this.form = $('group-composer');
    this.input = $('group-composer-input');
    this.conn = $('group-connection');

    this.newDialog = $('new-group-dialog');
    this.newForm = $('new-group-form');
    this.newName = $('new-group-name');
    this.newFriends = $('new-group-friends');
    this.newNone = $('new-group-none');
    this.newError = $('new-group-error');
    this.newCancel = $('new-group-cancel');
    this.newCreate = $('new-group-create');

    this.membersDialog = $('members-dialog');
    this.membersTitle = $('members-title');
    this.membersList = $('members-list');
    this.membersClose = $('members-close');
    this.addForm = $('add-member-form');
    this.addSelect = $('add-member-select');
    this.membersError = $('members-error');
    this.leaveBtn = $('leave-group-btn');

    this.infoDialog = $('info-dialog');
    this.infoText = $('info-text');
    this.infoList = $('info-list');
    this.infoError = $('info-error');

    /** id -> {sig, node} */
    this.nodes = new Map();
    this.group = null;
    /** Set by the app: whether the composer may send without text (files wait in it). */
    this.canSendEmpty = () => false;
    /** Set by the app: the nodes of a message's attachments; and forgetting those of closed groups. */
    this.attachmentNodes = () => [];
    this.pruneAttachments = () => {};
    this.input.addEventListener('input', () => this.autoGrow());
    this.newCancel.addEventListener('click', () => this.newDialog.close());
    this.membersClose.addEventListener('click', () => this.membersDialog.close());
  }

  // --- bindings -------------------------------------------------------------------------

  bindSelect(handler) {
    this.list.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-group]');
      if (btn) handler(btn.dataset.group);
    });
    this.list.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
      const buttons = [...this.list.querySelectorAll('button[data-group]')];
      const i = buttons.indexOf(document.activeElement);
      const next = i < 0 ? null : buttons[i + (e.key === 'ArrowDown' ? 1 : -1)];
      if (next) {
        next.focus();
        e.preventDefault();
      }
    });
  }

  bindNewGroup(open, create) {
    this.newBtn.addEventListener('click', () => open());
    this.newForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const members = [...this.newFriends.querySelectorAll('input[type="checkbox"]:checked')].map((c) => c.value);
      create(this.newName.value.trim(), members);
    });
  }

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

  /** handlers: {back, members, info(id), retry(id), nearTop, scrolled} */
  bindActions({ back, members, info, retry, nearTop, scrolled }) {
    this.backBtn.addEventListener('click', () => back());
    this.membersBtn.addEventListener('click', () => members());
    this.timeline.addEventListener('click', (e) => {
      const infoBtn = e.target.closest('button[data-info]');
      if (infoBtn) info(infoBtn.dataset.info);
      const retryBtn = e.target.closest('button[data-retry]');
      if (retryBtn) retry(retryBtn.dataset.retry);
    });
    let queued = false;
    this.scroller.addEventListener('scroll', () => {
      if (this.scroller.scrollTop < 80) nearTop();
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        scrolled();
      });
    }, { passive: true });
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape' || this.pane.hidden || document.querySelector('dialog[open]')) return;
      if (getComputedStyle(this.backBtn).display === 'none') return;
      back();
    });
  }

  /** handlers: {add(name), remove(name), role(name, role), leave()} */
  bindMemberActions({ add, remove, role, leave }) {
    this.membersList.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-member-action]');
      if (!btn) return;
      const { memberAction, user } = btn.dataset;
      if (memberAction === 'remove') remove(user);
      else if (memberAction === 'promote') role(user, 'admin');
      else if (memberAction === 'demote') role(user, 'member');
    });
    this.addForm.addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.addSelect.value) add(this.addSelect.value);
    });
    this.leaveBtn.addEventListener('click', () => leave());
  }

  // --- the list -------------------------------------------------------------------------

  /** groups: [{id, name, unread, typing: string[], active, last, gone}] */
  renderList(groups, me) {
    const focused = document.activeElement?.closest?.('button[data-group]')?.dataset.group;
    this.list.replaceChildren(...groups.map((g) => {
      let sub;
      if (g.typing.length) {
        sub = h('span', { className: 'sub typing' }, typingDots(), h('span', { text: `${g.typing.join(', ')} ${g.typing.length > 1 ? 'are' : 'is'} typing…` }));
      } else if (g.last) {
        const who = g.last.outgoing ? 'You' : g.last.sender;
        sub = h('span', { className: 'sub', text: `${who}: ${g.last.text ?? '🔒 Encrypted message'}` });
      } else {
        sub = h('span', { className: 'sub muted', text: g.gone ? 'You are no longer a member' : `${g.size} member${g.size === 1 ? '' : 's'}` });
      }
      const av = h('span', { className: 'avatar group-avatar', 'aria-hidden': 'true' });
      paintAvatar(av, g.name);
      const btn = h('button', {
        type: 'button',
        className: `friend group${g.active ? ' active' : ''}${g.unread ? ' has-unread' : ''}`,
        dataset: { group: g.id },
        'aria-current': g.active ? 'true' : null,
      },
      av,
      h('span', { className: 'friend-text' },
        h('span', { className: 'friend-top' },
          h('strong', { className: 'friend-name group-title', text: g.name }),
          g.last ? h('time', { className: 'friend-time', text: clock(g.last.timestamp) }) : null),
        sub),
      g.unread ? h('span', { className: 'unread-badge', text: g.unread > 99 ? '99+' : String(g.unread) }) : null,
      h('span', { className: 'visually-hidden', text: g.unread ? ', group, unread' : ', group' }));
      return h('li', {}, btn);
    }));
    if (focused) this.list.querySelector(`button[data-group="${CSS.escape(focused)}"]`)?.focus();
    void me;
  }

  // --- the open group -------------------------------------------------------------------

  open(id) {
    const changed = this.group !== id;
    this.group = id;
    this.empty.hidden = true;
    this.pane.hidden = false;
    this.pane.dataset.group = id;
    if (changed) {
      this.nodes.clear();
      this.timeline.replaceChildren();
      this.pruneAttachments();
      this.input.value = '';
      this.autoGrow();
      this.showTyping([]);
    }
  }

  close() {
    this.group = null;
    this.pane.hidden = true;
    delete this.pane.dataset.group;
    this.nodes.clear();
    this.timeline.replaceChildren();
    this.pruneAttachments();
  }

  get isOpen() {
    return !this.pane.hidden;
  }

  renderHeader({ name, size, gone, goneText, isAdmin }) {
    this.name.textContent = name;
    paintAvatar(this.avatar, name);
    this.status.textContent = gone ? 'not a member' : `${size} member${size === 1 ? '' : 's'}`;
    this.membersBtn.setAttribute('aria-label', `Members of ${name}`);
    this.form.hidden = gone;
    this.readOnly.hidden = !gone;
    this.readOnly.textContent = gone ? goneText : '';
    this.pane.dataset.readonly = String(gone);
    this.pane.dataset.admin = String(!!isAdmin);
  }

  renderConnection(state, text) {
    this.conn.dataset.state = state;
    this.conn.textContent = text;
  }

  showTyping(names) {
    this.typing.hidden = names.length === 0;
    this.typingText.textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
  }

  focusComposer() {
    this.input.focus();
  }

  autoGrow() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  isNearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  setLoadingOlder(loading) {
    this.loader.hidden = !loading;
  }

  /** Which of `ids` are on screen or above (scrolled to). Nothing while the pane is hidden. */
  reachedIds(ids) {
    if (this.pane.hidden) return [];
    const bottom = this.scroller.getBoundingClientRect().bottom;
    return ids.filter((id) => {
      const node = this.nodes.get(id)?.node;
      if (!node || !node.isConnected) return false;
      const box = node.getBoundingClientRect();
      return box.height > 0 && box.top < bottom - 4;
    });
  }

  /** mode: 'append' (keeps the bottom in view when it was), 'bottom', 'prepend'. */
  render(items, mode = 'append') {
    const s = this.scroller;
    const wasNearBottom = this.isNearBottom();
    const oldHeight = s.scrollHeight;
    const oldTop = s.scrollTop;
    const children = [];
    const seen = new Set();
    let lastDay = null;
    let lastSender = null;
    for (const item of items) {
      const day = dayKey(item.timestamp);
      if (day !== lastDay) {
        lastDay = day;
        lastSender = null;
        const key = `day-${day}`;
        const label = dayLabel(item.timestamp);
        seen.add(key);
        let sep = this.nodes.get(key);
        if (!sep || sep.sig !== label) {
          sep = { sig: label, node: h('li', { className: 'day-sep' }, h('span', { text: label })) };
          this.nodes.set(key, sep);
        }
        children.push(sep.node);
      }
      const showName = item.kind === 'message' && !item.outgoing && item.sender.toLowerCase() !== lastSender;
      lastSender = item.kind === 'message' && !item.outgoing ? item.sender.toLowerCase() : null;
      seen.add(item.id);
      children.push(this.nodeFor(item, showName));
    }
    for (const id of [...this.nodes.keys()]) if (!seen.has(id)) this.nodes.delete(id);
    const list = this.timeline;
    children.forEach((node, i) => {
      const at = list.children[i];
      if (at !== node) list.insertBefore(node, at ?? null);
    });
    while (list.children.length > children.length) list.lastElementChild.remove();
    if (mode === 'bottom' || (mode === 'append' && wasNearBottom)) s.scrollTop = s.scrollHeight;
    else if (mode === 'prepend') s.scrollTop = oldTop + (s.scrollHeight - oldHeight);
  }

  nodeFor(item, showName) {
    const sig = item.kind === 'message'
      ? `m|${item.status}|${item.text ?? ''}|${item.decryptFailed ? 1 : 0}|${item.waiting ? 1 : 0}|${item.timestamp}|${showName ? 1 : 0}|${item.resend ? 1 : 0}|${attachmentSig(item)}|${item.failReason ?? ''}`
      : `s|${item.text}`;
    const cached = this.nodes.get(item.id);
    if (cached && cached.sig === sig) return cached.node;
    const node = item.kind === 'message' ? this.messageNode(item, showName) : this.systemNode(item);
    this.nodes.set(item.id, { sig, node });
    return node;
  }

  systemNode(line) {
    return h('li', { className: 'system-line', dataset: { system: line.change ?? '' } }, h('span', { text: line.text }));
  }

  messageNode(m, showName) {
    const outgoing = m.outgoing;
    const files = m.text != null ? this.attachmentNodes(m) : [];
    let text = null;
    if (m.text != null) {
      if (m.text || !files.length) text = h('p', { className: 'text', text: m.text });
    } else if (m.decryptFailed) {
      text = h('p', { className: 'text undecryptable' }, icon('lock', 'icon inline'), ' This message could not be decrypted.');
    } else text = h('p', { className: 'text waiting' }, icon('lock', 'icon inline'), ' Waiting for the sender’s key…');
    const meta = h('span', { className: 'meta' }, h('time', { dateTime: new Date(m.timestamp).toISOString(), text: clock(m.timestamp) }));
    if (outgoing) {
      const t = TICK[m.status] ?? TICK.sent;
      meta.append(h('span', { className: 'ticks', dataset: { status: m.status }, role: 'img', 'aria-label': t.label, title: t.label }, icon(t.icon, 'icon tick')));
      if (m.status !== 'pending' && m.status !== 'failed') {
        meta.append(h('button', { type: 'button', className: 'info-btn', dataset: { info: m.id }, 'aria-label': 'Message info: who has it' }, 'Info'));
      }
    }
    const who = h('span', { className: 'visually-hidden', text: outgoing ? 'You: ' : `${m.sender}: ` });
    const bubble = h('div', { className: `bubble${files.length ? ' has-files' : ''}` }, who, ...files, text, meta);
    const li = h('li', {
      className: `msg ${outgoing ? 'out' : 'in'}${m.status === 'failed' ? ' failed' : ''}`,
      dataset: { id: m.id, status: m.status, sender: m.sender },
    });
    if (showName) {
      const name = h('span', { className: 'sender-name', 'aria-hidden': 'true', text: m.sender });
      name.style.setProperty('--hue', String(hueOf(m.sender)));
      li.append(name);
    }
    li.append(bubble);
    if (m.status === 'failed') {
      li.append(h('div', { className: 'failed-row' },
        h('span', { text: m.resend ? 'Not sent yet: sending again when connected.' : m.failReason ? `Not sent. ${m.failReason}` : 'Not sent.' }),
        h('button', { type: 'button', className: 'btn btn-small btn-ghost retry', dataset: { retry: m.id }, 'aria-label': 'Retry sending this message' }, icon('retry'), 'Retry')));
    }
    return li;
  }

  // --- dialogs --------------------------------------------------------------------------

  /** friends: names the user may put in a new group. */
  showNewGroup(friends) {
    this.newName.value = '';
    this.newError.hidden = true;
    this.newNone.hidden = friends.length > 0;
    this.newFriends.replaceChildren(...friends.map((name) => h('li', {},
      h('label', {}, h('input', { type: 'checkbox', value: name, name: 'member' }), avatarOf(name), h('span', { text: name })))));
    this.setCreating(false);
    if (!this.newDialog.open) this.newDialog.showModal();
    this.newName.focus();
  }

  setCreating(busy) {
    this.newCreate.disabled = busy;
  }

  newGroupError(text) {
    this.newError.hidden = !text;
    this.newError.textContent = text ?? '';
  }

  closeNewGroup() {
    if (this.newDialog.open) this.newDialog.close();
  }

  /**
   * members: [{username, role}], me, isAdmin (may add, remove, promote), candidates: friends who
   * may be added.
   */
  renderMembers({ name, members, me, isAdmin, candidates, gone }) {
    const focused = document.activeElement?.closest?.('button[data-member-action]')?.dataset;
    const kept = focused ? { action: focused.memberAction, user: focused.user } : null;
    this.membersTitle.textContent = `Members of ${name}`;
    // The heading is cut at two lines; the whole title stays one hover away.
    this.membersTitle.title = name;
    this.membersList.replaceChildren(...members.map((m) => {
      const isMe = m.username.toLowerCase() === me.toLowerCase();
      const actions = [];
      if (isAdmin && !isMe && !gone) {
        if (m.role === 'admin') {
          actions.push(h('button', { type: 'button', className: 'btn btn-small btn-ghost', dataset: { memberAction: 'demote', user: m.username }, 'aria-label': `Dismiss as admin: ${m.username}` }, 'Dismiss as admin'));
        } else {
          actions.push(h('button', { type: 'button', className: 'btn btn-small btn-ghost', dataset: { memberAction: 'promote', user: m.username }, 'aria-label': `Make ${m.username} an admin` }, 'Make admin'));
        }
        actions.push(h('button', { type: 'button', className: 'btn btn-small btn-danger', dataset: { memberAction: 'remove', user: m.username }, 'aria-label': `Remove ${m.username} from the group` }, 'Remove'));
      }
      return h('li', { className: 'member', dataset: { member: m.username, role: m.role } },
        avatarOf(m.username),
        h('span', { className: 'person-name' }, h('span', { text: isMe ? `${m.username} (you)` : m.username })),
        h('span', { className: 'role', text: m.role === 'admin' ? 'Admin' : 'Member' }),
        actions.length ? h('span', { className: 'member-actions' }, ...actions) : null);
    }));
    this.addForm.hidden = !isAdmin || gone || candidates.length === 0;
    const selected = this.addSelect.value;
    this.addSelect.replaceChildren(...candidates.map((c) => h('option', { value: c, text: c })));
    if (candidates.includes(selected)) this.addSelect.value = selected;
    this.leaveBtn.hidden = gone;
    if (kept) this.membersList.querySelector(`button[data-member-action="${kept.action}"][data-user="${CSS.escape(kept.user)}"]`)?.focus();
  }

  showMembers() {
    this.membersError.hidden = true;
    if (!this.membersDialog.open) this.membersDialog.showModal();
  }

  membersOpen() {
    return this.membersDialog.open;
  }

  closeMembers() {
    if (this.membersDialog.open) this.membersDialog.close();
  }

  membersErrorText(text) {
    this.membersError.hidden = !text;
    this.membersError.textContent = text ?? '';
  }

  /** receipts: null while loading, or [{username, status}]. */
  showInfo(text, receipts, error = null) {
    this.infoText.textContent = text ?? '';
    this.infoList.setAttribute('aria-busy', String(receipts === null && !error));
    this.infoError.hidden = !error;
    this.infoError.textContent = error ?? '';
    this.infoList.replaceChildren(...(receipts ?? []).map((r) => h('li', { className: 'member', dataset: { receipt: r.username, status: r.status } },
      avatarOf(r.username),
      h('span', { className: 'person-name' }, h('span', { text: r.username })),
      h('span', { className: 'receipt-status', dataset: { status: r.status }, text: STATUS_WORDS[r.status] ?? r.status }))));
    if (!this.infoDialog.open) this.infoDialog.showModal();
  }
}

function avatarOf(name) {
  const el = h('span', { className: 'avatar', 'aria-hidden': 'true' });
  paintAvatar(el, name);
  return el;
}
