// Register, sign in (restoring the key from its backup), sign out, session expiry.
import {
  generateIdentity, unwrapPrivateKey, wrapPrivateKey, WrongPasswordError,
} from '../crypto.js';
import { ApiError } from '../net/ApiClient.js';
import { LocalStore } from '../net/LocalStore.js';

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

export class AuthController {
  constructor({ api, auth, users, conn, views, socket, friends, chats, calls }) {
    this.api = api;
    this.auth = auth;
    this.users = users;
    this.conn = conn;
    this.views = views;
    this.socket = socket;
    this.friends = friends;
    this.chats = chats;
    this.calls = calls;
    this.expiryTimer = null;

    views.auth.bindSubmit((mode, form) => this.submit(mode, form));
    views.sidebar.bindLogout(() => this.logout());
    friends.onUnauthorized = () => this.logout('Your session has expired. Please sign in again.');
    socket.onLifecycle('close', (code) => this.onSocketClosed(code));
  }

  async start() {
    const saved = await LocalStore.loadSession();
    if (saved && saved.token && saved.privateKey && (!saved.expiresAt || saved.expiresAt > Date.now() + 60_000)) {
      this.enter(saved);
      return;
    }
    this.views.auth.showAuth();
  }

  validate(mode, { username, password, confirm }) {
    if (!USERNAME.test(username)) return ['A username is 3 to 32 letters, digits, or _ . -', 'username'];
    if (password.length < 8) return ['The password needs at least 8 characters.', 'password'];
    if (password.length > 1024) return ['The password can be at most 1024 characters.', 'password'];
    if (mode === 'register' && password !== confirm) return ['The two passwords do not match.', 'confirm'];
    return null;
  }

  explain(err, mode) {
    if (err instanceof WrongPasswordError) return err.message;
    if (err instanceof ApiError) {
      if (err.code === 'conflict' && mode === 'register') return `That username is already taken (${err.message}).`;
      if (err.code === 'unauthorized') return 'Wrong username or password.';
      if (err.code === 'rate_limited') {
        const wait = Number(err.retryAfter);
        return `Too many attempts. Try again${wait ? ` in ${Math.ceil(wait / 60) > 1 ? `${Math.ceil(wait / 60)} minutes` : `${wait} seconds`}` : ' later'}.`;
      }
      if (err.code === 'bad_request') return `The server refused this: ${err.message}`;
      return err.message;
    }
    return err?.message || 'Something went wrong.';
  }

  async submit(mode, form) {
    const invalid = this.validate(mode, form);
    if (invalid) {
      this.views.auth.showError(invalid[0], invalid[1]);
      return;
    }
    const { username, password } = form;
    const view = this.views.auth;
    view.showError(null);
    try {
      let keys;
      let res;
      if (mode === 'register') {
        view.setBusy(true, 'Creating your keys…');
        const identity = await generateIdentity();
        const wrapped = await wrapPrivateKey(identity.privateKey, password);
        view.setBusy(true, 'Creating your account…');
        await this.api.register(username, password, identity.publicJwk, wrapped.encryptedPrivateKey);
        view.setBusy(true, 'Signing in…');
        res = await this.api.login(username, password);
        keys = { privateKey: wrapped.privateKey, publicJwk: identity.publicJwk };
      } else {
        view.setBusy(true, 'Signing in…');
        res = await this.api.login(username, password);
        view.setBusy(true, 'Unlocking your key…');
        keys = await unwrapPrivateKey(res.encryptedPrivateKey, password);
      }
      const session = {
        token: res.token,
        username: res.username ?? username,
        expiresAt: res.expiresAt ?? null,
        privateKey: keys.privateKey,
        publicJwk: keys.publicJwk,
      };
      await LocalStore.saveSession(session);
      this.enter(session);
    } catch (err) {
      view.setBusy(false);
      view.showError(this.explain(err, mode));
    }
  }

  enter(session) {
    this.auth.set(session);
    this.views.auth.showApp();
    this.views.sidebar.renderMe(session.username);
    this.friends.start();
    this.socket.connect(session.token);
    clearTimeout(this.expiryTimer);
    if (session.expiresAt) {
      const ms = session.expiresAt - Date.now();
      // setTimeout cannot wait longer than ~24.8 days; a token lives hours.
      if (ms < 2 ** 31) this.expiryTimer = setTimeout(() => this.logout('Your session has expired. Please sign in again.'), Math.max(0, ms));
    }
  }

  onSocketClosed(code) {
    this.chats.onDisconnected();
    this.calls.onDisconnected();
    this.friends.onDisconnected();
    if (code === 4001) {
      this.logout('Your session has expired. Please sign in again.');
      return;
    }
    // A refused upgrade looks like any other failure in the browser: ask REST whether the
    // token still works.
    this.api.friendsStatus().catch((err) => {
      if (err instanceof ApiError && err.status === 401 && this.auth.isLoggedIn) {
        this.logout('Your session has expired. Please sign in again.');
      }
    });
  }

  logout(reason = null) {
    clearTimeout(this.expiryTimer);
    this.calls.hangup();
    this.chats.stopTyping();
    this.socket.disconnect();
    this.friends.stop();
    this.chats.reset();
    this.auth.clear();
    this.users.reset();
    LocalStore.clearSession();
    this.views.auth.showAuth();
    if (reason) this.views.auth.showError(reason);
  }
}
