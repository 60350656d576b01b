// The page itself: visibility, focus, network and unload signals. The controllers learn about
// them here instead of reaching into `document` or `window`.

export class PageView {
  get isVisible() {
    return document.visibilityState === 'visible';
  }

  /** handler() when the page becomes visible or gets focus again. */
  bindVisible(handler) {
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') handler();
    });
    window.addEventListener('focus', () => handler());
  }

  /** handler() when the browser reports that the network is back. */
  bindOnline(handler) {
    window.addEventListener('online', () => handler());
  }

  bindUnload(handler) {
    window.addEventListener('beforeunload', () => handler());
  }
}
