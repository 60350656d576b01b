// Light or dark: the choice made on this device (kept in localStorage), else the system's
// preference, followed live. Sets data-theme="light"|"dark" on <html>; style.css does the rest.

// theme-boot.js reads the same key before the first paint.
const KEY = 'nexchat-theme';
const CHOICES = ['system', 'light', 'dark'];
const darkQuery = globalThis.matchMedia?.('(prefers-color-scheme: dark)');

/** 'system' | 'light' | 'dark' */
export function themeChoice() {
  let stored = null;
  try { stored = localStorage.getItem(KEY); } catch { /* storage blocked: follow the system */ }
  return CHOICES.includes(stored) ? stored : 'system';
}

export function applyTheme() {
  const choice = themeChoice();
  const dark = choice === 'dark' || (choice === 'system' && !!darkQuery?.matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

/** Keeps `choice` for this device and applies it. */
export function setThemeChoice(choice) {
  if (!CHOICES.includes(choice)) return;
  try {
    if (choice === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch { /* storage blocked: applies to this page only */ }
  applyTheme();
}

darkQuery?.addEventListener('change', applyTheme);
