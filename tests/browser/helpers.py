"""Reading pages in the browser tests: table rows, query strings, keyboard focus."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

#: Columns of the detections table, in order.
DETECTION_COLUMNS = ("media", "time", "station", "species", "observation", "probability", "rule", "modality")


def table_rows(page) -> list[list[str]]:
    """The text of every cell of the main table's body rows (rows spanning all columns left out)."""
    return page.eval_on_selector_all(
        "main table tbody tr",
        "rows => rows.filter(r => !r.querySelector('td[colspan]'))"
        ".map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))")


def detection_rows(page) -> list[dict[str, str]]:
    """The detections table as dicts keyed by :data:`DETECTION_COLUMNS`; a reviewed row's "✔ reviewer" mark
    is taken out of ``species`` into ``reviewed_by`` ("" when unreviewed)."""
    out = []
    for row in table_rows(page):
        d = dict(zip(DETECTION_COLUMNS, row, strict=True))
        species, _, who = d["species"].partition(" ✔ ")  # the mark comes last in the cell
        d["species"], d["reviewed_by"] = species.strip(), who.strip()
        out.append(d)
    return out


def query(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (last value wins)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


FOCUS_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  return {tag: e.tagName.toLowerCase(), text: (e.innerText || e.value || '').trim().slice(0, 40),
          outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0,
          boxShadow: s.boxShadow, visible: e.getClientRects().length > 0};
}"""


def tab_through(page, selectors: list[str], max_tabs: int = 80) -> tuple[set[str], list[dict]]:
    """Press Tab up to ``max_tabs`` times from the top of the page; returns the ``selectors`` whose element
    got the focus, and the focus states seen (tag, text, outline, box-shadow, visible)."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    reached: set[str] = set()
    seen: list[dict] = []
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_JS)
        if state is None:
            continue
        seen.append(state)
        for sel in selectors:
            if sel not in reached and page.evaluate("s => document.activeElement.matches(s)", sel):
                reached.add(sel)
        if reached == set(selectors):
            break
    return reached, seen


def focus_is_visible(state: dict) -> bool:
    """An outline of at least 2 px, or a box shadow, marks the focused element."""
    return state["visible"] and ((state["outlineStyle"] != "none" and state["outlineWidth"] >= 2)
                                 or state["boxShadow"] not in ("", "none"))
