// lib/keys.js - single-key shortcuts of the current view: onKeys(ctx,
// {key: fn}) replaces the previous view's bindings and drops itself once
// the view is no longer live. Runs nothing when loaded.

let keyHandler = null;
export function onKeys(ctx, map) {
  if (keyHandler) document.removeEventListener('keydown', keyHandler);
  keyHandler = (ev) => {
    if (!ctx.live()) { document.removeEventListener('keydown', keyHandler); keyHandler = null; return; }
    if (ev.target.closest('input, select, textarea') || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const f = map[ev.key];
    if (f) { ev.preventDefault(); f(); }
  };
  document.addEventListener('keydown', keyHandler);
}
