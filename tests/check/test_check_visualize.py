"""The HTML timeline: well-formed, one row per client, open-ended unknowns, violations marked."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from xml.etree import ElementTree

from synod.check import KV, REGISTER, Operation, check_operations, render_html
from synod.check.visualize import LABEL_WIDTH_PX

SVG = "{http://www.w3.org/2000/svg}"


def op(client: int, call: float, ret: float, input: Hashable, output: Hashable = None) -> Operation:
    return Operation(client, call, ret, input, output)


def svgs(page: str) -> list[ElementTree.Element]:
    return [ElementTree.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", page, re.S)]


def bars(svg: ElementTree.Element) -> dict[str, ElementTree.Element]:
    """Each bar's rectangle, by the tooltip that names its operation."""
    found = {}
    for group in svg.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        rect = group.find(f"{SVG}rect")
        assert title is not None
        assert title.text is not None
        assert rect is not None
        found[title.text] = rect
    return found


STALE = [
    op(0, 0, 1, ("write", 1)),
    op(0, 2, 3, ("write", 2)),
    op(1, 4, 5, ("read",), 1),
    op(2, 1, math.inf, ("cas", 2, 3)),
]


def test_the_page_is_self_contained_and_well_formed() -> None:
    page = render_html(check_operations(REGISTER, STALE), "stale <read>")
    assert "<title>stale &lt;read&gt;</title>" in page
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    (svg,) = svgs(page)
    clients = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "client"]
    assert clients == ["client 0", "client 1", "client 2"]


def test_bars_show_the_search_and_unknown_outcomes_run_to_the_edge() -> None:
    (svg,) = svgs(render_html(check_operations(REGISTER, STALE), "stale"))
    by_title = bars(svg)
    read = next(rect for title, rect in by_title.items() if "read() -> 1" in title)
    assert read.get("class") == "stuck"
    write = next(rect for title, rect in by_title.items() if "write(2)" in title)
    assert write.get("class") == "linearized"
    cas = next(rect for title, rect in by_title.items() if "cas(2, 3)" in title)
    assert "open" in (cas.get("class") or "")
    right_edge = float(svg.get("width") or 0) - 4
    assert float(cas.get("x") or 0) + float(cas.get("width") or 0) == right_edge
    assert float(read.get("x") or 0) > LABEL_WIDTH_PX


def test_violated_partitions_come_first() -> None:
    history = [
        op(0, 0, 1, ("put", "a", "1")),
        op(0, 2, 3, ("get", "a"), "1"),
        op(1, 0, 1, ("put", "z", "1")),
        op(1, 2, 3, ("get", "z"), "2"),
    ]
    page = render_html(check_operations(KV, history, stop_at_first_violation=False), "two keys")
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[0].startswith("partition &#x27;z&#x27;: NOT linearizable")
    assert headings[1].startswith("partition &#x27;a&#x27;: linearizable")
