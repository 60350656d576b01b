// The settings dialog: the list of signed-in devices (sessions) with sign-out per device and
// "everywhere else", the password change (the key backup re-sealed here, in the browser) and the
// deletion of the account. Like sign-in, none of it sends the password: only auth keys.
import { deriveKeys, newKdf } from '../kdf.js';
import { ApiError } from '../net/ApiClient.js';
import { openBackup, sealBackup, WrongPasswordError } from '../vault.js';
import { setThemeChoice, themeChoice } from '../views/theme.js';
import { explainError } from './AuthController.js';

export class SettingsController {
  constructor({ api, auth, views, socket, authCtl }) {
    this.api = api;
    this.auth = auth;
    this.views = views;
    this.socket = socket;
    this.authCtl = authCtl;
    const view = views.settings;
    view.bindOpen(() => this.open());
    view.bindTheme((choice) => setThemeChoice(choice));
    view.bindSessions((id) => this.endSession(id), () => this.endOthers());
    view.bindChangePassword((form) => this.changePassword(form));
    view.bindDeleteAccount((form) => this.deleteAccount(form));
  }

  open() {
    if (!this.auth.isLoggedIn) return;
    this.views.settings.open(this.auth.username);
    this.views.settings.showTheme(themeChoice());
    this.loadSessions();
  }

  async loadSessions() {
    const view = this.views.settings;
    view.setSessionsBusy(true);
    try {
      const { sessions } = await this.api.sessions();
      if (view.isOpen) view.renderSessions(Array.isArray(sessions) ? sessions : []);
      view.showSessionsError(null);
    } catch (err) {
      view.setSessionsBusy(false);
      view.showSessionsError(explainError(err));
    }
  }

  async endSession(id) {
    try {
      await this.api.endSession(id);
    } catch (err) {
      // Already gone (expired, or ended from elsewhere meanwhile): the list below shows that.
      if (!(err instanceof ApiError && err.status === 404)) this.views.settings.showSessionsError(explainError(err));
    }
    await this.loadSessions();
  }

  async endOthers() {
    const view = this.views.settings;
    view.setSessionsBusy(true);
    try {
      const { sessions } = await this.api.sessions();
      for (const s of sessions.filter((x) => !x.current)) {
        await this.api.endSession(s.id).catch((err) => {
          if (!(err instanceof ApiError && err.status === 404)) throw err;
        });
      }
      this.views.toast.show('All your other devices and tabs were signed out.', 'success');
    } catch (err) {
      view.showSessionsError(explainError(err));
    }
    await this.loadSessions();
  }

  /**
   * The current keys: derived from the typed password under the account's current `kdf`, and
   * checked by opening the kept backup, so a mistyped password is caught before anything is sent.
   */
  async currentKeys(password) {
    const { kdf } = await this.api.params(this.auth.username);
    if (!kdf) throw new Error('This account still uses the old key scheme. Sign out and in again first.');
    const keys = await deriveKeys(password, kdf);
    if (!this.auth.backup) throw new Error('Sign out and in again before changing this, so the key backup is at hand.');
    try {
      keys.jwk = await openBackup(this.auth.backup, this.auth.username, keys.vaultKey);
    } catch (err) {
      if (err instanceof WrongPasswordError) throw new WrongPasswordError('The current password is wrong.');
      throw err;
    }
    return keys;
  }

  async changePassword({ current, next, confirm }) {
    const view = this.views.settings;
    if (!current) return view.showPasswordError('Enter your current password.', 'current');
    if (next.length < 8) return view.showPasswordError('The new password needs at least 8 characters.', 'next');
    if (next.length > 1024) return view.showPasswordError('The new password can be at most 1024 characters.', 'next');
    if (next !== confirm) return view.showPasswordError('The two new passwords do not match.', 'confirm');
    view.showPasswordError(null);
    view.setPasswordBusy(true, { kdf: true });
    let quiet = false;
    try {
      const old = await this.currentKeys(current);
      const kdf = newKdf();
      const fresh = await deriveKeys(next, kdf);
      const backup = await sealBackup(old.jwk, this.auth.username, fresh.vaultKey);
      view.setPasswordBusy(true);
      this.authCtl.pauseSocket();
      quiet = true;
      const res = await this.api.changePassword({
        currentPassword: old.authKey, newPassword: fresh.authKey, kdf, encryptedPrivateKey: backup,
      });
      await this.authCtl.replaceSession(res, backup);
      view.setPasswordBusy(false);
      view.passwordChanged();
      this.views.toast.show('Password changed. Your other devices and tabs were signed out.', 'success');
      await this.loadSessions();
    } catch (err) {
      if (quiet && this.auth.isLoggedIn) this.socket.connect();
      view.setPasswordBusy(false);
      const wrong = err instanceof WrongPasswordError || (err instanceof ApiError && err.code === 'unauthorized');
      view.showPasswordError(wrong ? 'The current password is wrong.' : explainError(err), wrong ? 'current' : null);
    }
    return undefined;
  }

  async deleteAccount({ typed, password }) {
    const view = this.views.settings;
    if (typed.toLowerCase() !== this.auth.username.toLowerCase()) {
      view.showDeleteError(`Type ${this.auth.username} to confirm.`);
      return;
    }
    if (!password) {
      view.showDeleteError('Enter your password.');
      return;
    }
    view.showDeleteError(null);
    view.setDeleteBusy(true);
    let quiet = false;
    try {
      const keys = await this.currentKeys(password);
      this.authCtl.pauseSocket();
      quiet = true;
      await this.api.deleteAccount(keys.authKey);
      this.authCtl.endLocally();
      this.views.auth.showError(null);
      this.views.toast.show('Your account was deleted.', 'success');
    } catch (err) {
      if (quiet && this.auth.isLoggedIn) this.socket.connect();
      view.setDeleteBusy(false);
      const wrong = err instanceof WrongPasswordError || (err instanceof ApiError && err.code === 'unauthorized');
      view.showDeleteError(wrong ? 'The password is wrong.' : explainError(err));
    }
  }
}
