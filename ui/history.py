"""The browser's Back and Forward buttons move between the app's tabs, as on any site with pages: on a phone, Back
would otherwise leave the app and lose every run of the session. Each tab opened adds an entry (the address gains
``#lesson``, ``#compare``, ...), and an address with such a fragment opens on that tab. The query, a link's
settings, is kept as it is."""

from __future__ import annotations

import gradio as gr

TABS_ID = "main-tabs"

TAB_HISTORY_JS = """() => {
  const tabs = () => {
    const row = document.querySelector('#%(id)s .tab-container');
    return row ? [...row.querySelectorAll(':scope > button[role=tab]')] : [];
  };
  const fragment = (tab) => '#' + tab.innerText.trim().toLowerCase().replace(/\\s+/g, '-');
  let replaying = false;
  document.addEventListener('click', (event) => {
    const tab = event.target.closest('button[role=tab]');
    if (replaying || !tab || !tabs().includes(tab)) return;
    // the whole address: the page's <base> would resolve a bare fragment against the root, dropping the query
    if (location.hash === fragment(tab)) return;
    history.pushState(null, '', location.pathname + location.search + fragment(tab));
  }, true);
  const open = () => {
    const wanted = location.hash || fragment(tabs()[0] ?? document.body);
    const tab = tabs().find((t) => fragment(t) === wanted);
    if (!tab || tab.getAttribute('aria-selected') === 'true') return;
    replaying = true;
    tab.click();
    replaying = false;
  };
  window.addEventListener('popstate', open);
  if (location.hash) open();
}""" % {"id": TABS_ID}


def wire(demo: gr.Blocks) -> None:
    demo.load(None, js=TAB_HISTORY_JS)
