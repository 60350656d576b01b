// The sign-in / create-account card. DOM only.
import { $ } from './dom.js';
import { KdfProgress } from './progress.js';

export class AuthView {
  constructor() {
    this.screen = $('auth-screen');
    this.app = $('app-screen');
    this.form = $('auth-form');
    this.panel = $('auth-panel');
    this.username = $('auth-username');
    this.password = $('auth-password');
    this.confirm = $('auth-confirm');
    this.confirmField = $('auth-confirm-field');
    this.error = $('auth-error');
    this.submit = $('auth-submit');
    this.submitLabel = $('auth-submit-label');
    this.recoveryNote = $('auth-recovery-note');
    this.progress = new KdfProgress($('auth-progress'), $('auth-progress-text'));
    this.tabs = [$('tab-login'), $('tab-register')];
    this.mode = 'login';

    for (const tab of this.tabs) {
      tab.addEventListener('click', () => this.setMode(tab.dataset.mode));
      tab.addEventListener('keydown', (e) => {
        if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
          const other = this.tabs.find((t) => t !== tab);
          this.setMode(other.dataset.mode);
          other.focus();
          e.preventDefault();
        }
      });
    }
  }

  setMode(mode) {
    this.mode = mode;
    const register = mode === 'register';
    for (const tab of this.tabs) {
      const on = tab.dataset.mode === mode;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    this.panel.setAttribute('aria-labelledby', register ? 'tab-register' : 'tab-login');
    this.confirmField.hidden = !register;
    this.recoveryNote.hidden = !register;
    this.confirm.required = register;
    this.password.autocomplete = register ? 'new-password' : 'current-password';
    this.submitLabel.textContent = register ? 'Create account' : 'Sign in';
    this.showError(null);
  }

  /** handler(mode, {username, password, confirm}) */
  bindSubmit(handler) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      handler(this.mode, {
        username: this.username.value.trim(),
        password: this.password.value,
        confirm: this.confirm.value,
      });
    });
  }

  showError(message, field = null) {
    this.error.hidden = !message;
    this.error.textContent = message ?? '';
    for (const input of [this.username, this.password, this.confirm]) input.removeAttribute('aria-invalid');
    if (field) {
      const input = { username: this.username, password: this.password, confirm: this.confirm }[field];
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    }
  }

  /** `kdf: true` while the key derivation runs: shows its progress bar. */
  setBusy(busy, label = null, { kdf = false } = {}) {
    if (busy && kdf) this.progress.start();
    else this.progress.stop();
    this.submit.disabled = busy;
    this.submit.classList.toggle('busy', busy);
    this.form.setAttribute('aria-busy', String(busy));
    this.submitLabel.textContent = label ?? (this.mode === 'register' ? 'Create account' : 'Sign in');
  }

  showAuth() {
    this.app.hidden = true;
    this.screen.hidden = false;
    this.password.value = '';
    this.confirm.value = '';
    this.setBusy(false);
    this.username.focus();
  }

  showApp() {
    this.screen.hidden = true;
    this.app.hidden = false;
    this.password.value = '';
    this.confirm.value = '';
    this.setBusy(false);
    this.showError(null);
  }
}
