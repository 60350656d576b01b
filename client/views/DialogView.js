// Modal dialogs: the safety number and confirmations. DOM only.
import { $ } from './dom.js';

export class DialogView {
  constructor() {
    this.safety = $('safety-dialog');
    this.safetyIntro = $('safety-intro');
    this.safetyDigits = $('safety-digits');
    this.confirmDialog = $('confirm-dialog');
    this.confirmTitle = $('confirm-title');
    this.confirmBody = $('confirm-body');
    this.confirmOk = $('confirm-ok');
  }

  showSafetyNumber(peer, groups) {
    this.safetyIntro.textContent = `Your safety number with ${peer}:`;
    this.safetyDigits.replaceChildren();
    for (const g of groups) {
      const span = document.createElement('span');
      span.textContent = g;
      this.safetyDigits.append(span);
    }
    this.safetyDigits.setAttribute('aria-label', groups.join(' '));
    if (!this.safety.open) this.safety.showModal();
  }

  /** Resolves true when the user confirms. */
  confirm(title, body, okLabel) {
    this.confirmTitle.textContent = title;
    this.confirmBody.textContent = body;
    this.confirmOk.textContent = okLabel;
    this.confirmDialog.returnValue = '';
    return new Promise((resolve) => {
      this.confirmDialog.addEventListener('close', () => resolve(this.confirmDialog.returnValue === 'ok'), { once: true });
      this.confirmDialog.showModal();
    });
  }
}
