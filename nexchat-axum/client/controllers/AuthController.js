// Register, sign in (the key restored from its backup), the move of a v1 account to v1.1, sign out,
// and the end of a session from elsewhere (4003) or by expiry (4001).
//
// The password never leaves this tab: the server gets the auth key derived from it (kdf.js), and
// the vault key that opens the key backup stays here. The one exception is the sign-in of an
// account made by a v1 client (`kdf: null`), which sends what v1 sends and is then moved to v1.1 at
// once, so that it is the last time.
import { generateIdentity, importIdentity } from '../crypto.js';
import { deriveKeys, newKdf, UnsafeKdfError } from '../kdf.js';
import { ApiError } from '../net/ApiClient.js';
import { LocalStore } from '../net/LocalStore.js';
import {
  openBackup, openBackupV1, sealBackup, WrongPasswordError,
} from '../vault.js';

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
const EXPIRED = 'Your session has expired. Please sign in again.';
const ENDED = 'You were signed out: this session was ended (signed out elsewhere, or the password was changed).';

/** The message a failed account request should show. */
export function explainError(err, { taken = null } = {}) {
  if (err instanceof WrongPasswordError || err instanceof UnsafeKdfError) return err.message;
  if (err instanceof ApiError) {
    if (err.code === 'conflict' && taken) return taken;
    if (err.code === 'unauthorized') return 'Wrong username or password.';
    if (err.code === 'rate_limited') {
      const wait = Number(err.retryAfter);
      const minutes = Math.ceil(wait / 60);
      return `Too many attempts. Try again${wait ? ` in ${minutes > 1 ? `${minutes} minutes` : `${wait} seconds`}` : ' later'}.`;
    }
    if (err.code === 'bad_request') return `The server refused this: ${err.message}`;
    return err.message;
  }
  return err?.message || 'Something went wrong.';
}

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
    views.sidebar.bindLogout(() => this.signOut());
    friends.onUnauthorized = () => this.endLocally(EXPIRED);
    socket.onLifecycle('close', (code) => this.onSocketClosed(code));
    socket.onLifecycle('refused', () => this.endLocally(ENDED));
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

  async submit(mode, form) {
    const invalid = this.validate(mode, form);
    if (invalid) {
      this.views.auth.showError(invalid[0], invalid[1]);
      return;
    }
    const view = this.views.auth;
    view.showError(null);
    try {
      const session = mode === 'register'
        ? await this.register(form.username, form.password)
        : await this.signIn(form.username, form.password);
      await LocalStore.saveSession(session);
      this.enter(session);
    } catch (err) {
      view.setBusy(false);
      view.showError(explainError(err, { taken: `The username ${form.username.trim()} is already taken. Please choose another.` }));
    }
  }

  async register(username, password) {
    const view = this.views.auth;
    const kdf = newKdf();
    view.setBusy(true, 'Deriving your keys…', { kdf: true });
    const { authKey, vaultKey } = await deriveKeys(password, kdf);
    view.setBusy(true, 'Creating your keys…');
    const identity = await generateIdentity();
    const backup = await sealBackup(identity.jwk, username, vaultKey);
    view.setBusy(true, 'Creating your account…');
    await this.api.register(username, authKey, identity.publicJwk, backup, kdf);
    view.setBusy(true, 'Signing in…');
    const res = await this.api.login(username, authKey);
    const keys = await importIdentity(identity.jwk);
    return this.sessionOf(res, username, keys, backup);
  }

  async signIn(username, password) {
    const view = this.views.auth;
    view.setBusy(true, 'Signing in…');
    const { kdf } = await this.api.params(username);
    if (kdf === null) return this.signInV1(username, password);
    view.setBusy(true, 'Deriving your keys…', { kdf: true });
    const { authKey, vaultKey } = await deriveKeys(password, kdf);
    view.setBusy(true, 'Signing in…');
    const res = await this.api.login(username, authKey);
    const name = res.username ?? username;
    return this.finishing(res.token, async () => {
      view.setBusy(true, 'Unlocking your key…');
      const jwk = await openBackup(res.encryptedPrivateKey, name, vaultKey);
      return this.sessionOf(res, name, await importIdentity(jwk), res.encryptedPrivateKey);
    });
  }

  /** Runs the rest of a sign-in; when it fails, the session the login started is ended again. */
  async finishing(token, rest) {
    try {
      return await rest();
    } catch (err) {
      this.api.logout(token).catch(() => {});
      throw err;
    }
  }

  /**
   * An account made by a v1 client: sign in as v1 does, then at once change the password to the
   * same password under v1.1 (new kdf, the backup re-sealed under the vault key). The login's
   * session ends with that change; the token it returns starts this tab's session.
   */
  async signInV1(username, password) {
    const view = this.views.auth;
    const res = await this.api.login(username, password);
    const name = res.username ?? username;
    return this.finishing(res.token, async () => {
      view.setBusy(true, 'Unlocking your key…');
      const jwk = await openBackupV1(res.encryptedPrivateKey, password);
      view.setBusy(true, 'Upgrading your account’s encryption…', { kdf: true });
      const kdf = newKdf();
      const { authKey, vaultKey } = await deriveKeys(password, kdf);
      const backup = await sealBackup(jwk, name, vaultKey);
      view.setBusy(true, 'Saving the upgrade…');
      const next = await this.api.changePassword({
        currentPassword: password, newPassword: authKey, kdf, encryptedPrivateKey: backup,
      }, res.token);
      return this.sessionOf({ ...res, ...next }, name, await importIdentity(jwk), backup);
    });
  }

  sessionOf(res, username, keys, backup) {
    return {
      token: res.token,
      username,
      expiresAt: res.expiresAt ?? null,
      privateKey: keys.privateKey,
      publicJwk: keys.publicJwk,
      // Sealed under the vault key, so as safe to keep as on the server; a password change opens
      // it to check the current password and re-seals the same private key.
      backup,
    };
  }

  enter(session) {
    this.auth.set(session);
    this.views.auth.showApp();
    this.views.sidebar.renderMe(session.username);
    this.friends.start();
    this.socket.connect();
    this.armExpiry(session.expiresAt);
  }

  armExpiry(expiresAt) {
    clearTimeout(this.expiryTimer);
    if (!expiresAt) return;
    const ms = expiresAt - Date.now();
    // setTimeout cannot wait longer than ~24.8 days; a token lives hours.
    if (ms < 2 ** 31) this.expiryTimer = setTimeout(() => this.endLocally(EXPIRED), Math.max(0, ms));
  }

  /**
   * This tab continues under a new token (after a password change): a new socket with a ticket
   * of the new session, the new backup kept.
   */
  async replaceSession({ token, expiresAt }, backup) {
    this.auth.token = token;
    this.auth.expiresAt = expiresAt ?? null;
    this.auth.backup = backup;
    await LocalStore.saveSession({
      token,
      username: this.auth.username,
      expiresAt: this.auth.expiresAt,
      privateKey: this.auth.privateKey,
      publicJwk: this.auth.publicJwk,
      backup,
    });
    this.armExpiry(this.auth.expiresAt);
    this.socket.connect();
  }

  /**
   * Closes this tab's socket on purpose, before a request that ends every session of the user
   * (password change, deletion), so its 4003 is not mistaken for being signed out.
   */
  pauseSocket() {
    this.calls.hangup();
    this.socket.disconnect();
    this.onSocketGone();
  }

  onSocketGone() {
    this.chats.onDisconnected();
    this.groups?.onDisconnected();
    this.calls.onDisconnected();
    this.friends.onDisconnected();
  }

  onSocketClosed(code) {
    this.onSocketGone();
    if (code === 4001) this.endLocally(EXPIRED);
    else if (code === 4003) this.endLocally(ENDED);
  }

  /** The sign-out button: end the session on the server too, so no copy of the token works. */
  async signOut() {
    const token = this.auth.token;
    const ended = token ? this.api.logout(token).catch(() => {}) : null;
    this.endLocally();
    await ended;
  }

  /** Forgets the session in this tab (and in this browser, unless another tab saved a newer one). */
  endLocally(reason = null) {
    const token = this.auth.token;
    clearTimeout(this.expiryTimer);
    this.calls.hangup();
    this.chats.stopTyping();
    this.socket.disconnect();
    this.friends.stop();
    this.chats.reset();
    // Decrypted files and files waiting to be sent go with the session.
    this.attachments?.reset();
    // The group sender keys of this account go with its session; key messages bring them back.
    const keysOf = this.groups?.reset() ?? this.auth.username;
    if (keysOf) LocalStore.clearSenderKeys(keysOf);
    this.auth.clear();
    this.users.reset();
    this.views.settings.close();
    if (token) LocalStore.clearSession(token);
    this.views.auth.showAuth();
    if (reason) this.views.auth.showError(reason);
  }
}
