// Runs synchronously in <head>, before the first paint: puts the theme chosen on this device (or
// the system's) on <html data-theme> so a dark page never shows one light frame while the
// deferred app modules load. A classic script, not a module (modules run after parsing), and an
// external file because the Content-Security-Policy forbids inline scripts. views/theme.js owns
// the choice (the same localStorage key) and follows later changes.
(() => {
  let choice = null;
  try { choice = localStorage.getItem('nexchat-theme'); } catch { /* storage blocked: the system decides */ }
  const dark = choice === 'dark' || (choice !== 'light' && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
})();
