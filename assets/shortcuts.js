// Keyboard shortcuts for the Search tab: s = Step, r = Run, p = Prune the selected node.
// Ignored while typing in a field, and with modifier keys held.
(function () {
  const KEYS = { s: "step-btn", r: "run-btn", p: "prune-btn" };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) return;
    const id = KEYS[event.key.toLowerCase()];
    if (!id) return;
    const root = document.getElementById(id);
    const button = root && (root.tagName === "BUTTON" ? root : root.querySelector("button"));
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
})();
