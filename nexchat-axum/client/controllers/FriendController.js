// Friends: the REST actions (request, accept, reject, cancel, remove), search, presence and the
// live friend events the server pushes. Renders the sidebar lists.
import { ApiError } from '../net/ApiClient.js';

const POLL_MS = 15_000;
const SEARCH_DEBOUNCE_MS = 250;

export class FriendController {
  constructor({ api, auth, users, chat, views }) {
    this.api = api;
    this.auth = auth;
    this.users = users;
    this.chat = chat;
    this.views = views;
    /** set by app.js: the ChatController and the ConversationController */
    this.chats = null;
    this.conversations = null;
    this.pollTimer = null;
    this.searchTimer = null;
    this.searchSeq = 0;

    const sidebar = views.sidebar;
    sidebar.bindSearch((q, now) => this.search(q, now));
    sidebar.bindPeopleActions({
      add: (name) => this.add(name),
      accept: (name) => this.accept(name),
      reject: (name) => this.reject(name),
      cancel: (name) => this.cancel(name),
    });
  }

  events() {
    return {
      online_users: (ev) => this.onOnlineUsers(ev),
      presence: (ev) => this.onPresence(ev),
      new_friend_request: (ev) => this.onNewRequest(ev),
      friendship_activated: (ev) => this.onActivated(ev),
      friend_request_rejected: (ev) => this.onRejected(ev),
      friend_removed: (ev) => this.onRemoved(ev),
    };
  }

  start() {
    this.load();
    clearInterval(this.pollTimer);
    // A safety net for a missed push; the socket's events are the normal path.
    this.pollTimer = setInterval(() => this.load(), POLL_MS);
  }

  stop() {
    clearInterval(this.pollTimer);
    clearTimeout(this.searchTimer);
    this.pollTimer = null;
    this.views.sidebar.clearSearch();
  }

  async load() {
    try {
      const status = await this.api.friendsStatus();
      if (!this.auth.isLoggedIn) return;
      const before = new Set(this.users.friends);
      this.users.setStatus(status);
      for (const name of before) {
        if (!this.users.isFriend(name)) this.chats?.friendGone(name);
      }
      this.render();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) this.onUnauthorized?.();
    }
  }

  render() {
    const u = this.users;
    this.views.sidebar.renderFriends(u.conversationList().map((name) => ({
      name,
      former: !u.isFriend(name),
      online: u.isOnline(name),
      unread: u.serverUnreadOf(name) + this.chat.unseenFrom(name).length,
      typing: u.typing.has(name),
      active: this.chat.active === name,
      last: u.lastActivity.get(name),
    })), this.auth.username);
    this.views.sidebar.renderRequests(u.pendingReceived, u.pendingSent);
    if (u.searchQuery) this.renderSearch();
    this.chats?.renderHeader();
  }

  renderSearch(error = null) {
    const u = this.users;
    this.views.sidebar.renderSearchResults({
      query: u.searchQuery,
      results: u.searchResults,
      relationOf: (n) => u.relationOf(n),
      error,
    });
  }

  search(q, now = false) {
    clearTimeout(this.searchTimer);
    this.users.searchQuery = q;
    if (!q) {
      this.users.searchResults = [];
      this.views.sidebar.renderSearchResults(null);
      return;
    }
    const seq = ++this.searchSeq;
    this.searchTimer = setTimeout(async () => {
      try {
        const res = await this.api.searchUsers(q);
        if (seq !== this.searchSeq) return;
        this.users.searchResults = Array.isArray(res?.users) ? res.users : [];
        this.renderSearch();
      } catch (err) {
        if (seq !== this.searchSeq) return;
        this.users.searchResults = [];
        this.renderSearch(err.message);
      }
    }, now ? 0 : SEARCH_DEBOUNCE_MS);
  }

  async act(fn, okText) {
    try {
      const res = await fn();
      if (okText) this.views.toast.show(typeof okText === 'function' ? okText(res) : okText, 'success');
    } catch (err) {
      this.views.toast.show(err.message, 'error');
    }
    await this.load();
  }

  add(name) {
    return this.act(() => this.api.requestFriend(name),
      (res) => (res?.status === 'accepted' ? `You and ${name} are now friends.` : `Friend request sent to ${name}.`));
  }

  accept(name) {
    return this.act(() => this.api.acceptFriend(name), null);
  }

  reject(name) {
    return this.act(() => this.api.rejectFriend(name), `Request from ${name} declined.`);
  }

  cancel(name) {
    return this.act(() => this.api.removeFriend(name), `Request to ${name} withdrawn.`);
  }

  async unfriend(name) {
    const ok = await this.views.dialog.confirm(`Remove ${name}?`,
      `You will no longer be able to message or call ${name}. Your chat history stays on this account.`, 'Remove friend');
    if (!ok) return;
    try {
      await this.api.removeFriend(name);
      this.users.removeFriend(name);
      this.chats?.friendGone(name);
      this.views.toast.show(`${name} was removed from your friends.`, 'info');
    } catch (err) {
      this.views.toast.show(err.message, 'error');
    }
    await this.load();
  }

  /** Without a socket we cannot know who is online; `online_users` tells again on reconnect. */
  onDisconnected() {
    this.users.setOnlineList([]);
    this.render();
  }

  // --- pushes ---------------------------------------------------------------------------

  onOnlineUsers(ev) {
    this.users.setOnlineList(Array.isArray(ev.users) ? ev.users : []);
    this.render();
  }

  onPresence(ev) {
    this.users.setOnline(ev.username, !!ev.online);
    if (!ev.online) this.users.setTyping(ev.username, false);
    this.render();
  }

  onNewRequest(ev) {
    this.views.toast.show(`${ev.from} sent you a friend request.`, 'info');
    if (!this.users.pendingReceived.includes(ev.from)) this.users.pendingReceived.push(ev.from);
    this.render();
    this.load();
  }

  onActivated(ev) {
    const name = ev.with;
    this.users.addFriend(name);
    this.users.setOnline(name, !!ev.online);
    if (ev.publicKey) this.chats?.learnKey(name, ev.publicKey);
    this.views.toast.show(`You and ${name} are now friends.`, 'success');
    this.render();
    this.load();
  }

  onRejected(ev) {
    this.users.removeRequest(ev.from);
    this.views.toast.show(`${ev.from} declined your friend request.`, 'warning');
    this.render();
    this.load();
  }

  onRemoved(ev) {
    const wasFriend = this.users.isFriend(ev.from);
    this.users.removeFriend(ev.from);
    this.users.removeRequest(ev.from);
    this.chats?.friendGone(ev.from);
    this.views.toast.show(wasFriend ? `${ev.from} removed you from their friends.` : `${ev.from} withdrew their friend request.`, 'warning');
    this.render();
    this.load();
    // An erased account ends its friendships the same way; its history is gone then.
    if (wasFriend) this.conversations?.load();
  }
}
