// The settings dialog: appearance, signed-in devices, password change, account deletion. DOM only.
import { $, h } from './dom.js';
import { deviceName, relativeTime } from './format.js';
import { KdfProgress } from './progress.js';

export class SettingsView {
  constructor() {
    this.dialog = $('settings-dialog');
    this.openBtn = $('settings-btn');
    this.closeBtn = $('settings-close');
    this.themeChoice = $('theme-choice');
    this.alertPrefs = $('alert-prefs');
    this.alertsNote = $('alerts-note');
    this.sessionsList = $('sessions-list');
    this.sessionsError = $('sessions-error');
    this.othersBtn = $('sessions-others');
    this.passwordForm = $('password-form');
    this.pwCurrent = $('pw-current');
    this.pwNew = $('pw-new');
    this.pwConfirm = $('pw-confirm');
    this.passwordError = $('password-error');
    this.passwordSubmit = $('password-submit');
    this.passwordProgress = new KdfProgress($('password-progress'), $('password-progress-text'));
    this.deleteForm = $('delete-form');
    this.deleteName = $('delete-name');
    this.deleteConfirm = $('delete-confirm');
    this.deletePassword = $('delete-password');
    this.deleteError = $('delete-error');
    this.deleteSubmit = $('delete-submit');
    this.username = '';
    this.closeBtn.addEventListener('click', () => this.close());
    this.deleteConfirm.addEventListener('input', () => this.syncDeleteButton());
  }

  /** handler() when the user asks for the dialog. */
  bindOpen(handler) {
    this.openBtn.addEventListener('click', () => handler());
  }

  /** handler('system' | 'light' | 'dark') when the user picks a theme. */
  bindTheme(handler) {
    this.themeChoice.addEventListener('change', (e) => {
      if (e.target.name === 'theme') handler(e.target.value);
    });
  }

  showTheme(choice) {
    for (const input of this.themeChoice.querySelectorAll('input[name="theme"]')) input.checked = input.value === choice;
  }

  /** handler(name, on) when a sound or notification switch changes. */
  bindAlerts(handler) {
    this.alertPrefs.addEventListener('change', (e) => {
      if (e.target.type === 'checkbox') handler(e.target.name, e.target.checked);
    });
  }

  /** values: {ringtone, ringback, notify, previews}; permission: the Notification permission. */
  showAlerts(values, permission) {
    for (const input of this.alertPrefs.querySelectorAll('input[type="checkbox"]')) input.checked = !!values[input.name];
    const notify = this.alertPrefs.querySelector('input[name="notify"]');
    const blocked = permission === 'denied' || permission === 'unsupported';
    notify.disabled = blocked;
    this.alertPrefs.querySelector('input[name="previews"]').disabled = !values.notify;
    this.alertsNote.hidden = !blocked;
    this.alertsNote.textContent = permission === 'denied'
      ? 'This browser blocks notifications from this site; allow them in its site settings to turn them on.'
      : 'This browser cannot show notifications here.';
  }

  /** handler(id) for one session's "Sign out"; handlerOthers() for "Sign out everywhere else". */
  bindSessions(handler, handlerOthers) {
    this.sessionsList.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-end-session]');
      if (btn) handler(btn.dataset.endSession);
    });
    this.othersBtn.addEventListener('click', () => handlerOthers());
  }

  /** handler({current, next, confirm}) */
  bindChangePassword(handler) {
    this.passwordForm.addEventListener('submit', (e) => {
      e.preventDefault();
      handler({ current: this.pwCurrent.value, next: this.pwNew.value, confirm: this.pwConfirm.value });
    });
  }

  /** handler({typed, password}) */
  bindDeleteAccount(handler) {
    this.deleteForm.addEventListener('submit', (e) => {
      e.preventDefault();
      handler({ typed: this.deleteConfirm.value.trim(), password: this.deletePassword.value });
    });
  }

  open(username) {
    this.username = username;
    this.deleteName.textContent = username;
    $('pw-username').value = username;
    for (const input of [this.pwCurrent, this.pwNew, this.pwConfirm, this.deleteConfirm, this.deletePassword]) input.value = '';
    this.showPasswordError(null);
    this.showDeleteError(null);
    this.showSessionsError(null);
    this.syncDeleteButton();
    if (!this.dialog.open) this.dialog.showModal();
  }

  close() {
    this.setPasswordBusy(false);
    this.setDeleteBusy(false);
    if (this.dialog.open) this.dialog.close();
  }

  get isOpen() {
    return this.dialog.open;
  }

  syncDeleteButton() {
    const typed = this.deleteConfirm.value.trim();
    this.deleteSubmit.disabled = !this.username || typed.toLowerCase() !== this.username.toLowerCase();
  }

  /** sessions: [{id, createdAt, lastSeenAt, userAgent, current}] as the server lists them. */
  renderSessions(sessions, now = Date.now()) {
    this.sessionsList.setAttribute('aria-busy', 'false');
    this.sessionsList.replaceChildren(...sessions.map((s) => h(
      'li',
      { className: 'session', dataset: { session: s.id, current: String(!!s.current) } },
      h(
        'div',
        { className: 'session-text' },
        h('span', { className: 'session-name', title: s.userAgent || null }, deviceName(s.userAgent)),
        h('span', { className: 'session-meta' }, s.current
          ? 'Active now'
          : `Last active ${relativeTime(s.lastSeenAt, now)} · signed in ${relativeTime(s.createdAt, now)}`),
      ),
      s.current
        ? h('span', { className: 'this-device' }, 'This device')
        : h('button', {
          type: 'button',
          className: 'btn btn-ghost btn-small',
          dataset: { endSession: s.id },
          'aria-label': `Sign out ${deviceName(s.userAgent)}, last active ${relativeTime(s.lastSeenAt, now)}`,
        }, 'Sign out'),
    )));
    this.othersBtn.disabled = !sessions.some((s) => !s.current);
  }

  setSessionsBusy(busy) {
    this.sessionsList.setAttribute('aria-busy', String(busy));
    this.othersBtn.disabled = busy;
  }

  showSessionsError(message) {
    this.sessionsError.hidden = !message;
    this.sessionsError.textContent = message ?? '';
  }

  /** `kdf: true` while keys are derived (progress bar), false for the network part. */
  setPasswordBusy(busy, { kdf = false } = {}) {
    if (busy && kdf) this.passwordProgress.start();
    else this.passwordProgress.stop();
    this.passwordSubmit.disabled = busy;
    this.passwordSubmit.classList.toggle('busy', busy);
    this.passwordForm.setAttribute('aria-busy', String(busy));
  }

  showPasswordError(message, field = null) {
    this.passwordError.hidden = !message;
    this.passwordError.textContent = message ?? '';
    for (const input of [this.pwCurrent, this.pwNew, this.pwConfirm]) input.removeAttribute('aria-invalid');
    const input = { current: this.pwCurrent, next: this.pwNew, confirm: this.pwConfirm }[field];
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  passwordChanged() {
    for (const input of [this.pwCurrent, this.pwNew, this.pwConfirm]) input.value = '';
    this.showPasswordError(null);
  }

  setDeleteBusy(busy) {
    this.deleteSubmit.classList.toggle('busy', busy);
    this.deleteForm.setAttribute('aria-busy', String(busy));
    if (busy) this.deleteSubmit.disabled = true;
    else this.syncDeleteButton();
  }

  showDeleteError(message) {
    this.deleteError.hidden = !message;
    this.deleteError.textContent = message ?? '';
  }
}
