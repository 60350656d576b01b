// The WebSocket lifecycle and the event dispatcher: every server event goes to the handlers
// the other controllers registered for its type.
import { ApiError } from '../net/ApiClient.js';
import { SocketClient } from '../net/SocketClient.js';

export class SocketController {
  constructor({ api, auth, conn, views }) {
    this.api = api;
    this.auth = auth;
    this.conn = conn;
    this.views = views;
    /** @type {Map<string, Function[]>} */
    this.handlers = new Map();
    this.lifecycle = {
      open: [], close: [], synced: [], refused: [],
    };
    this.client = new SocketClient({
      getTicket: () => this.ticket(),
      onRefused: () => { for (const fn of this.lifecycle.refused) fn(); },
      onEvent: (ev) => this.dispatch(ev),
      onOpen: () => this.onOpen(),
      onStatus: (s) => this.onStatus(s),
      onClose: (code) => this.onClose(code),
    });
    // Skip the backoff wait when the network or the user comes back.
    views.page.bindOnline(() => this.client.reconnectNow());
    views.page.bindVisible(() => this.client.reconnectNow());
  }

  /** handlers: {eventType: fn(ev) => boolean|void}; for `error`, returning true claims it. */
  register(handlers) {
    for (const [type, fn] of Object.entries(handlers)) {
      if (!this.handlers.has(type)) this.handlers.set(type, []);
      this.handlers.get(type).push(fn);
    }
  }

  /** kind: open | close | synced | refused (no ticket: the session is over) */
  onLifecycle(kind, fn) {
    this.lifecycle[kind].push(fn);
  }

  /** A fresh ticket for one upgrade; null when the server says the session is over. */
  async ticket() {
    try {
      const { ticket } = await this.api.wsTicket();
      return typeof ticket === 'string' ? ticket : undefined;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return null;
      throw err;
    }
  }

  connect() {
    this.client.connect();
  }

  disconnect() {
    this.client.close();
  }

  get isOpen() {
    return this.client.isOpen;
  }

  send(event) {
    return this.client.send(event);
  }

  onOpen() {
    this.send({ type: 'join', publicKey: this.auth.publicJwk });
    for (const fn of this.lifecycle.open) fn();
  }

  onClose(code) {
    for (const fn of this.lifecycle.close) fn(code);
  }

  onStatus(status) {
    this.conn.setState(status);
    this.views.sidebar.renderConnection(this.conn);
  }

  dispatch(ev) {
    if (ev.type === 'sync_done') {
      this.conn.setState({ state: 'online' });
      this.conn.synced = true;
      this.views.sidebar.renderConnection(this.conn);
      for (const fn of this.lifecycle.synced) fn();
      return;
    }
    const fns = this.handlers.get(ev.type) ?? [];
    if (ev.type === 'error') {
      for (const fn of fns) {
        try {
          if (fn(ev) === true) return;
        } catch (err) {
          console.error('error handler failed', err);
        }
      }
      this.unclaimedError(ev);
      return;
    }
    for (const fn of fns) {
      Promise.resolve()
        .then(() => fn(ev))
        .catch((err) => console.error(`handler for ${ev.type} failed`, err));
    }
  }

  unclaimedError(ev) {
    const text = {
      not_friends: 'You are not friends with that person (anymore).',
      rate_limited: 'You are sending too fast. Please slow down.',
      too_large: 'That was too large to send.',
      user_not_found: 'That user does not exist.',
      internal: 'The server had a problem. Please try again.',
    }[ev.code] ?? ev.message ?? `Server error: ${ev.code}`;
    this.views.toast.show(text, 'error');
  }
}
