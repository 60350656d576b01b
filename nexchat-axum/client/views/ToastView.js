// Short notices in the corner. DOM only.
import { $, h, icon } from './dom.js';

export class ToastView {
  constructor() {
    this.root = $('toasts');
  }

  /** type: info | success | warning | error */
  show(message, type = 'info', timeoutMs = 5000) {
    const close = h('button', { type: 'button', className: 'toast-close', 'aria-label': 'Dismiss' }, icon('x'));
    const toast = h('div', { className: `toast toast-${type}`, dataset: { type } }, h('span', { className: 'toast-text', text: message }), close);
    const remove = () => {
      toast.classList.remove('show');
      setTimeout(() => toast.remove(), 250);
    };
    close.addEventListener('click', remove);
    this.root.append(toast);
    requestAnimationFrame(() => toast.classList.add('show'));
    if (timeoutMs) setTimeout(remove, timeoutMs);
    while (this.root.children.length > 5) this.root.firstElementChild.remove();
  }
}
