// The sidebar: who I am, the connection, search, requests and the friends list. DOM only.
import { $, h, icon, avatar, paintAvatar, typingDots } from './dom.js';
import { clock } from './format.js';
import { describeCall } from './callLabel.js';

const CONNECTION_TEXT = {
  offline: 'Offline',
  connecting: 'Connecting…',
  syncing: 'Syncing…',
  online: 'Connected',
  reconnecting: 'Reconnecting',
};

export class SidebarView {
  constructor() {
    this.appScreen = $('app-screen');
    this.meName = $('me-name');
    this.meAvatar = $('me-avatar');
    this.conn = $('connection-state');
    this.chatConn = $('chat-connection');
    this.groupConn = $('group-connection');
    this.logoutBtn = $('logout-btn');
    this.searchForm = $('search-form');
    this.searchInput = $('search-input');
    this.searchSection = $('search-results');
    this.searchList = $('search-list');
    this.requestsSection = $('requests-section');
    this.requestsList = $('requests-list');
    this.requestsCount = $('requests-count');
    this.friendsList = $('friends-list');
    this.friendsEmpty = $('friends-empty');
    this.countdown = null;
  }

  renderMe(name) {
    this.meName.textContent = name;
    paintAvatar(this.meAvatar, name);
  }

  /**
   * The connection state, in the sidebar and in the open chat (which shows it on a phone, where
   * the sidebar is hidden while a chat is open).
   */
  renderConnection({ state, retryAt }) {
    clearInterval(this.countdown);
    for (const el of [this.conn, this.chatConn, this.groupConn]) el.dataset.state = state;
    const paint = () => {
      let text = CONNECTION_TEXT[state] ?? state;
      if (state === 'reconnecting' && retryAt) {
        const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        text = s > 0 ? `Offline · retrying in ${s}s` : 'Reconnecting…';
      }
      for (const el of [this.conn, this.chatConn, this.groupConn]) el.textContent = text;
    };
    paint();
    if (state === 'reconnecting' && retryAt) this.countdown = setInterval(paint, 1000);
  }

  // --- bindings -------------------------------------------------------------------------

  bindLogout(handler) {
    this.logoutBtn.addEventListener('click', () => handler());
  }

  bindSearch(handler) {
    this.searchInput.addEventListener('input', () => handler(this.searchInput.value.trim()));
    this.searchForm.addEventListener('submit', (e) => {
      e.preventDefault();
      handler(this.searchInput.value.trim(), true);
    });
    this.searchInput.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.searchInput.value = '';
        handler('');
      }
    });
  }

  /** handlers: {add, accept, reject, cancel} (name) => void */
  bindPeopleActions(handlers) {
    const onClick = (e) => {
      const btn = e.target.closest('button[data-action]');
      if (!btn) return;
      const fn = handlers[btn.dataset.action];
      if (fn) fn(btn.dataset.user);
    };
    this.searchList.addEventListener('click', onClick);
    this.requestsList.addEventListener('click', onClick);
  }

  bindSelectFriend(handler) {
    this.friendsList.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-friend]');
      if (btn) handler(btn.dataset.friend);
    });
    // Arrow keys move between friends; Enter/Space open (native button behaviour).
    this.friendsList.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
      const buttons = [...this.friendsList.querySelectorAll('button[data-friend]')];
      const i = buttons.indexOf(document.activeElement);
      if (i < 0) return;
      const next = buttons[i + (e.key === 'ArrowDown' ? 1 : -1)];
      if (next) {
        next.focus();
        e.preventDefault();
      }
    });
  }

  // --- rendering ------------------------------------------------------------------------

  clearSearch() {
    this.searchInput.value = '';
    this.renderSearchResults(null);
  }

  /**
   * @param {null | {query: string, results: {username: string, online: boolean}[], relationOf: (n: string) => string, error?: string}} data
   */
  renderSearchResults(data) {
    if (!data || !data.query) {
      this.searchSection.hidden = true;
      this.searchList.replaceChildren();
      return;
    }
    this.searchSection.hidden = false;
    if (data.error) {
      this.searchList.replaceChildren(h('li', { className: 'empty-hint error', text: data.error }));
      return;
    }
    if (!data.results.length) {
      this.searchList.replaceChildren(h('li', { className: 'empty-hint', text: `Nobody found for “${data.query}”.` }));
      return;
    }
    this.searchList.replaceChildren(...data.results.map((u) => {
      const rel = data.relationOf(u.username);
      let action;
      if (rel === 'friend') action = h('span', { className: 'tag', text: 'Friend' });
      else if (rel === 'sent') {
        action = h('button', { type: 'button', className: 'btn btn-small btn-ghost', dataset: { action: 'cancel', user: u.username }, 'aria-label': `Requested: cancel friend request to ${u.username}` }, 'Requested');
      } else if (rel === 'received') {
        action = h('button', { type: 'button', className: 'btn btn-small btn-primary', dataset: { action: 'accept', user: u.username }, 'aria-label': `Accept friend request from ${u.username}` }, 'Accept');
      } else {
        action = h('button', { type: 'button', className: 'btn btn-small btn-primary', dataset: { action: 'add', user: u.username }, 'aria-label': `Add: send friend request to ${u.username}` }, icon('user-plus'), 'Add');
      }
      return h('li', { className: 'person', dataset: { user: u.username } },
        this.avatarWithDot(u.username, u.online),
        h('span', { className: 'person-name' }, h('span', { text: u.username })),
        action);
    }));
  }

  renderRequests(received, sent) {
    // A re-render (another request, a presence) keeps a keyboard user's place: the same action
    // for the same user has the focus again afterwards.
    const focused = document.activeElement?.closest?.('button[data-action][data-user]');
    const kept = focused && this.requestsList.contains(focused) ? focused.dataset : null;
    const total = received.length + sent.length;
    this.requestsSection.hidden = total === 0;
    this.requestsCount.textContent = received.length ? String(received.length) : '';
    this.requestsCount.hidden = received.length === 0;
    const items = [];
    for (const name of received) {
      items.push(h('li', { className: 'person request', dataset: { request: name, direction: 'received' } },
        avatar(name),
        h('span', { className: 'person-name' }, h('strong', { text: name }), h('small', { text: 'wants to be friends' })),
        h('span', { className: 'request-actions' },
          h('button', { type: 'button', className: 'icon-btn small ok', dataset: { action: 'accept', user: name }, 'aria-label': `Accept friend request from ${name}`, title: 'Accept' }, icon('check')),
          h('button', { type: 'button', className: 'icon-btn small danger', dataset: { action: 'reject', user: name }, 'aria-label': `Reject friend request from ${name}`, title: 'Reject' }, icon('x')))));
    }
    for (const name of sent) {
      items.push(h('li', { className: 'person request', dataset: { request: name, direction: 'sent' } },
        avatar(name),
        h('span', { className: 'person-name' }, h('strong', { text: name }), h('small', { text: 'request sent' })),
        h('button', { type: 'button', className: 'btn btn-small btn-ghost', dataset: { action: 'cancel', user: name }, 'aria-label': `Cancel friend request to ${name}` }, 'Cancel')));
    }
    this.requestsList.replaceChildren(...items);
    if (kept) {
      this.requestsList.querySelector(`button[data-action="${kept.action}"][data-user="${CSS.escape(kept.user)}"]`)?.focus();
    }
  }

  avatarWithDot(name, online) {
    return h('span', { className: 'avatar-wrap' },
      avatar(name),
      h('span', { className: 'online-dot', dataset: { online: String(!!online) }, 'aria-hidden': 'true' }));
  }

  /**
   * The conversation list: friends and former friends with a history, newest first.
   * @param {{name: string, former: boolean, online: boolean, unread: number, typing: boolean, active: boolean, last: {text?: string, outgoing?: boolean, call?: object, timestamp: number}|undefined}[]} friends
   * @param {string} me the signed-in user, for the words of call records
   */
  renderFriends(friends, me) {
    this.friendsEmpty.hidden = friends.length > 0;
    const unread = friends.reduce((n, f) => n + f.unread, 0);
    document.title = unread ? `(${unread}) nexchat` : 'nexchat';
    const focused = document.activeElement?.closest?.('button[data-friend]')?.dataset.friend;
    this.friendsList.replaceChildren(...friends.map((f) => {
      const preview = f.last ? this.previewOf(f.last, me) : '';
      // The button is named by what it shows, in that order; what only the dot and the colours
      // say is added at the end as hidden text, so the visible words stay a part of the name.
      const extra = [];
      if (f.unread) extra.push('unread');
      if (!f.former) extra.push(f.online ? 'online' : 'offline');
      let sub;
      if (f.typing) sub = h('span', { className: 'sub typing' }, typingDots(), h('span', { text: 'typing…' }));
      else if (f.last) sub = h('span', { className: 'sub', text: preview });
      else sub = h('span', { className: 'sub muted', text: f.online ? 'online' : 'offline' });
      const btn = h('button', {
        type: 'button',
        className: `friend${f.active ? ' active' : ''}${f.unread ? ' has-unread' : ''}${f.former ? ' former' : ''}`,
        dataset: { friend: f.name, former: String(f.former) },
        'aria-current': f.active ? 'true' : null,
      },
      f.former ? avatar(f.name) : this.avatarWithDot(f.name, f.online),
      h('span', { className: 'friend-text' },
        h('span', { className: 'friend-top' },
          h('strong', { className: 'friend-name', text: f.name }),
          f.last ? h('time', { className: 'friend-time', text: clock(f.last.timestamp) }) : null),
        f.former ? h('span', { className: 'sub former-note', text: 'Not a friend anymore · read only' }) : null,
        sub),
      f.unread ? h('span', { className: 'unread-badge', text: f.unread > 99 ? '99+' : String(f.unread) }) : null,
      h('span', { className: 'visually-hidden', text: `, ${extra.join(', ')}` }));
      return h('li', {}, btn);
    }));
    if (focused) this.friendsList.querySelector(`button[data-friend="${CSS.escape(focused)}"]`)?.focus();
  }

  /** The list's one-line summary of a conversation's last message or call. */
  previewOf(last, me) {
    if (last.call) return describeCall(last.call, me).title;
    return last.outgoing ? `You: ${last.text ?? ''}` : (last.text ?? '');
  }

  focusFriendList() {
    this.friendsList.querySelector('button[data-friend]')?.focus();
  }

  /** On narrow screens the sidebar and the chat take turns. */
  setChatOpen(open) {
    this.appScreen.classList.toggle('chat-open', open);
  }
}
