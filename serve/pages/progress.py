"""``/progress`` (reviewers): how much has been reviewed per species, per station and per reviewer, how the
reviewers' labels differ from the machine's (confusion of the first review's ``before`` with the latest
label), and the confirmed share per probability band over all species."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from models.store import stats
from models.store.insights import label_confusion, review_progress, reviewer_tallies
from serve import charts
from serve.auth import Principal, Role
from serve.cache import get_result_cache
from serve.pages.common import language, render
from serve.pages.figures import cached_svg, data_version, strings
from serve.web_session import needs

router = APIRouter(include_in_schema=False)

TEXT = strings({
    "en": {"per_species": "Reviewed share per species", "per_station": "Reviewed share per station",
           "per_reviewer": "Reviews per reviewer", "reviewer": "Reviewer", "reviews": "Reviews",
           "confusion": "Machine label vs reviewers' label", "machine": "Machine label", "human": "Reviewers' label",
           "agree": "same", "share_caption": "Share of the detections (%) classified by a person, per species.",
           "trust": "Confirmed share per probability band (all species)", "trust_caption": "Of the reviewed "
           "detections, per model probability band: reviews that confirmed the label (blue) and that corrected "
           "it (orange).", "no_reviews": "No reviews yet.", "percent": "Reviewed (%)"},
    "zh": {"per_species": "各物种审核比例", "per_station": "各站点审核比例", "per_reviewer": "各审核员的审核数",
           "reviewer": "审核员", "reviews": "审核次数", "confusion": "机器标签与审核员标签对照", "machine": "机器标签",
           "human": "审核员标签", "agree": "一致", "share_caption": "各物种经人工分类的检测所占比例（%）。",
           "trust": "各概率区间的确认比例（所有物种）",
           "trust_caption": "已审核的检测按模型概率区间统计：确认标签的审核（蓝色）与更正标签的审核（橙色）。",
           "no_reviews": "尚无审核记录。", "percent": "已审核（%）"},
})
ReviewerDep = Annotated[Principal, Depends(needs(Role.reviewer))]


@router.get("/progress", response_class=HTMLResponse)
def progress_page(request: Request, viewer: ReviewerDep, lang: str | None = None) -> HTMLResponse:
    """Review progress tables (+ bar charts) for reviewers; others are sent to sign in."""
    lang = language(request, lang)
    t = TEXT[lang]
    with request.app.state.sessions() as s:
        # five GROUP BYs over every detection (2 s at 1,000,000): kept until the data changes (a new review or
        # detection changes data_version), so a reviewer sees their own reviews counted at once
        species, stations, reviewers, confusion, bands = get_result_cache(request).get(
            ("progress-page", data_version(s)), lambda: (review_progress(s, "species"), review_progress(s, "station"),
                                                         reviewer_tallies(s), label_confusion(s),
                                                         stats.review_agreement(s)))
        share_svg = cached_svg(request, s, ("pr-share", lang), lambda: charts.hbar_svg(
            [p.key for p in species], [round(100 * p.share, 1) for p in species], prefix="share",
            title=t["per_species"], xlabel=t["percent"], xmax=100) if species else None)
        trust_svg = cached_svg(request, s, ("pr-trust", lang), lambda: charts.bar_svg(
            [f"{b.low:.1f}–{b.high:.1f}" for b in bands], [(t["confirmed"], [b.confirmed for b in bands]),
                                                          (t["corrected"], [b.corrected for b in bands])],
            prefix="trust", title=t["trust"], ylabel=t["reviewed"], xlabel=t["band"])
            if any(b.reviewed for b in bands) else None)
    return render(request, "progress.html", lang, viewer, text=TEXT, species=species, stations=stations,
                  reviewers=reviewers, confusion=confusion, bands=bands, share_svg=share_svg, trust_svg=trust_svg)
