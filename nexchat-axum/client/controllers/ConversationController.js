// The conversation list as the server keeps it (`GET /conversations`): read after every sync, so
// unread badges, previews and the recent-first order are right after a reload, on a new device
// and after time offline, and former friends' conversations stay in the list.
import { ApiError } from '../net/ApiClient.js';

const PAGE = 100;
/** A bound on what one reload reads; the list shows the most recent conversations first anyway. */
const MAX_PAGES = 20;

export class ConversationController {
  constructor({ api, auth, users, chat, chats, friends }) {
    this.api = api;
    this.auth = auth;
    this.users = users;
    this.chat = chat;
    this.chats = chats;
    this.friends = friends;
    /** Bumped per load, so an answer that a newer load overtook is dropped. */
    this.seq = 0;
  }

  async load() {
    const seq = ++this.seq;
    const entries = [];
    let before = null;
    let complete = false;
    for (let page = 0; page < MAX_PAGES; page++) {
      let res;
      try {
        res = await this.api.conversations(PAGE, before);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) this.friends.onUnauthorized?.();
        return;
      }
      if (seq !== this.seq || !this.auth.isLoggedIn) return;
      const list = Array.isArray(res?.conversations) ? res.conversations : [];
      entries.push(...list.filter((e) => e && typeof e.withUser === 'string' && e.lastMessage));
      if (!res.hasMore || !list.length) {
        complete = true;
        break;
      }
      before = list[list.length - 1].withUser;
    }
    await Promise.all(entries.map((e) => this.apply(e)));
    if (seq !== this.seq || !this.auth.isLoggedIn) return;
    if (complete) {
      // The whole list: a former friend missing from it has no history left (an erased account).
      this.users.keepConversations(entries.map((e) => this.chats.peerFromWire(e.withUser)));
      this.chats.dropVanished();
    }
    this.friends.render();
  }

  /** One entry: preview from the decrypted last message, and the server's unread count. */
  async apply({ withUser, lastMessage: m, unread }) {
    const peer = this.chats.peerFromWire(withUser);
    this.users.noteConversation(peer);
    const decrypted = await this.chats.decrypt(peer, m);
    this.users.noteActivity(peer, this.chats.activityOf(decrypted, m), m.timestamp);
    // Unseen messages this page already holds count by their own status; the rest by the server's number.
    let loaded = 0;
    for (const msg of this.chat.convs.get(peer)?.messages.values() ?? []) {
      if (!msg.outgoing && msg.status !== 'seen' && msg.timestamp <= m.timestamp) loaded += 1;
    }
    this.users.setServerUnread(peer, (Number.isInteger(unread) ? unread : 0) - loaded, m.timestamp);
  }
}
