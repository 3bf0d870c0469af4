"""What a keyboard or a screen reader needs that Gradio's components leave out.

- Focus is always visible: Gradio draws next to no ring on a focused checkbox or slider.
- Text and buttons reach WCAG's 4.5:1: white on the theme's orange was 2.8:1, a placeholder and a slider's ends
  1.9:1, and the Lesson's greyed-out "Make your guess, then run", an instruction, too faint to read.
- Each step-range box of the brick schedule is named with its brick ("B2 global r64/p4: steps 7-8, ..."): the
  five boxes of every brick otherwise share five names, and a screen reader cannot tell B0's from B2's. The boxes
  are redrawn when the number of ranges changes, so the names are kept up by an observer.
- The status lines are live regions: a run's end or a refusal is read out where it stays, not only in a toast
  that goes after a few seconds.
- A setting's reset button says which setting it resets, and an accordion says whether it is open; on a phone
  both are at least 24 px, a finger's target.
- A picture or a chart is named by its box's label ("Schedule − all bricks (red: lighter)", "Chart: Totals"),
  not left without a name or read out as the tick numbers of its axes.
- The image sliders' dividers (Compare, the Lesson) take the keyboard: Tab reaches a divider, the arrow keys move
  it a twentieth of the picture, Home and End to either side. Gradio's divider answers the mouse only, so a key
  plays the drag a mouse would make.
"""

from __future__ import annotations

import json

import gradio as gr

LIVE = "live-status"  # the class of a status line that is read out as it changes
KEYED = "keyed-divider"  # the class of an image slider whose divider takes the keyboard

CSS = """
:root, .dark { --button-primary-background-fill: var(--primary-700);
               --button-primary-background-fill-hover: var(--primary-800); }
input:focus-visible, button:focus-visible, a:focus-visible, textarea:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid #1d4ed8; outline-offset: 2px; }
.dark input:focus-visible, .dark button:focus-visible, .dark a:focus-visible, .dark textarea:focus-visible,
.dark [tabindex]:focus-visible { outline-color: #93c5fd; }
input::placeholder, textarea::placeholder { color: var(--neutral-500); opacity: 1; }
[data-testid=min-value], [data-testid=max-value] { color: var(--block-info-text-color); }
@media (max-width: 480px) { /* a finger's target: 24 px at least */
  button[data-testid=reset-button], button.label-wrap { min-height: 24px; min-width: 24px; } }
#lesson-run:disabled { opacity: 1; background: var(--neutral-200); color: var(--neutral-800); } /* says what to do */
.dark #lesson-run:disabled { background: var(--neutral-700); color: var(--neutral-100); }
button[role=tab][aria-selected=true] { color: var(--primary-700); }
.dark button[role=tab][aria-selected=true] { color: var(--primary-400); }
"""

NAMES_JS = """(captions) => {
  const name = () => {
    for (const status of document.querySelectorAll('.%(live)s')) {
      if (status.getAttribute('aria-live') !== 'polite') {
        status.setAttribute('role', 'status');
        status.setAttribute('aria-live', 'polite');
      }
    }
    for (const block of document.querySelectorAll('.brick-ranges')) {
      const brick = block.querySelector('[data-testid=block-info]')?.textContent.trim();
      if (!brick) continue;
      if (block.getAttribute('aria-label') !== brick) block.setAttribute('aria-label', brick);
      for (const box of block.querySelectorAll('input[type=checkbox]')) {
        const wanted = brick + ': ' + (box.closest('label')?.textContent.trim() ?? '');
        if (box.getAttribute('aria-label') !== wanted) box.setAttribute('aria-label', wanted);
      }
    }
    for (const label of document.querySelectorAll('[data-testid=block-label]')) {  // pictures and charts
      const block = label.closest('.block');
      const text = label.textContent.trim();
      if (!block || !text) continue;
      for (const img of block.querySelectorAll('img:not([alt]), img[alt=""]')) img.alt = text;
      const chart = block.querySelector('.js-plotly-plot');
      if (chart && chart.getAttribute('aria-label') !== 'Chart: ' + text) {
        chart.setAttribute('role', 'img');
        chart.setAttribute('aria-label', 'Chart: ' + text);
      }
    }
    for (const [selector, caption] of Object.entries(captions)) {  // pictures without a shown label: their meaning
      const img = document.querySelector(selector);
      if (img && img.alt !== caption) img.alt = caption;
    }
    for (const reset of document.querySelectorAll('button[data-testid=reset-button]')) {  // which setting it resets
      const setting = reset.closest('.block')?.querySelector('[data-testid=block-info]')?.textContent.trim();
      if (setting && reset.getAttribute('aria-label') !== 'Reset ' + setting) {
        reset.setAttribute('aria-label', 'Reset ' + setting);
      }
    }
    for (const header of document.querySelectorAll('button.label-wrap')) {  // an accordion: open or not
      const icon = header.querySelector('.icon');
      if (!icon) continue;
      icon.setAttribute('aria-hidden', 'true');  // its name is its title, without the arrow
      const open = String(!icon.style.transform.includes('90deg'));
      if (header.getAttribute('aria-expanded') !== open) header.setAttribute('aria-expanded', open);
    }
    for (const divider of document.querySelectorAll('.%(keyed)s')) {
      const handle = divider.querySelector('[data-testid=slider]');
      if (!handle || handle.dataset.keys) continue;
      handle.dataset.keys = 'on';
      handle.tabIndex = 0;
      handle.setAttribute('role', 'slider');
      handle.setAttribute('aria-label', 'Divider between the two pictures: left and right arrow keys move it');
      handle.setAttribute('aria-valuemin', '0');
      handle.setAttribute('aria-valuemax', '100');
      handle.addEventListener('keydown', (event) => {
        const img = divider.querySelector('img');
        if (!img || !img.naturalWidth) return;
        const box = img.getBoundingClientRect();  // the picture is drawn inside it at its own shape (contain)
        const width = img.naturalWidth * Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
        const frame = {left: box.left + (box.width - width) / 2, right: box.left + (box.width + width) / 2, width};
        const at = handle.getBoundingClientRect();
        const x = at.left + at.width / 2, y = at.top + at.height / 2;
        const to = {ArrowLeft: x - frame.width / 20, ArrowDown: x - frame.width / 20,
                    ArrowRight: x + frame.width / 20, ArrowUp: x + frame.width / 20,
                    Home: frame.left, End: frame.right}[event.key];
        if (to === undefined) return;
        event.preventDefault();
        const mouse = (type, clientX, target) => target.dispatchEvent(new MouseEvent(type,
          {bubbles: true, cancelable: true, view: window, button: 0, clientX, clientY: y}));
        mouse('mousedown', x, handle);
        mouse('mousemove', to, window);
        mouse('mouseup', to, window);
        const share = (to - frame.left) / frame.width;
        handle.setAttribute('aria-valuenow', String(Math.round(100 * Math.min(1, Math.max(0, share)))));
      });
    }
  };
  name();
  let queued = false;  // one pass per frame, however many changes a run's previews make in it
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; name(); });
  }).observe(document.body, {childList: true, subtree: true});
}""" % {"live": LIVE, "keyed": KEYED}


def wire(demo: gr.Blocks, captions: dict[str, str]) -> None:
    """``captions``: the text alternative of each picture shown without a label, by a CSS selector of its img."""
    demo.load(None, js=f"() => ({NAMES_JS})({json.dumps(captions)})")
