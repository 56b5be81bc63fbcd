// Keyboard shortcuts, aware of the tab in view: each key lists buttons by id, and the first one
// that is visible (on the selected tab) is clicked.
//   Search tab: s = Step, r = Run, p = Prune the selected node.
//   Curate tab: a = Accept, r = Reject, s = Skip, ArrowLeft / ArrowRight = previous / next path.
// Ignored while typing in a field or an editor (CodeMirror is contenteditable) and with modifier
// keys held; arrows are also left to tables, sliders, lists and tab bars, which use them themselves.
(function () {
  const KEYS = {
    s: ["step-btn", "curate-skip-btn"],
    r: ["run-btn", "curate-reject-btn"],
    p: ["prune-btn"],
    a: ["curate-accept-btn"],
    arrowleft: ["curate-prev-btn"],
    arrowright: ["curate-next-btn"],
  };
  const FIELDS = "input, textarea, select";
  const ARROW_OWNERS = "table, [role='grid'], [role='listbox'], [role='slider'], [role='tablist']";

  function buttonOf(id) {
    const root = document.getElementById(id);
    return root && (root.tagName === "BUTTON" ? root : root.querySelector("button"));
  }

  function visible(el) {
    if (typeof el.checkVisibility === "function") return el.checkVisibility();
    return el.offsetParent !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const key = (event.key || "").toLowerCase();
    const ids = KEYS[key];
    if (!ids) return;
    const target = event.target instanceof Element ? event.target : null;
    if (target && (target.isContentEditable || target.closest(FIELDS))) return;
    if (target && key.startsWith("arrow") && target.closest(ARROW_OWNERS)) return;
    for (const id of ids) {
      const button = buttonOf(id);
      if (button && visible(button)) {
        if (!button.disabled) {
          event.preventDefault();
          button.click();
        }
        return;
      }
    }
  });
})();
