"""``/statistics``: one station's counts per day / week / month, diel activity, species accumulation with Chao2
and acoustic indices over time, through the statistics core (:mod:`models.store.stats`) the API uses.

"Reviewed only" restricts the detection figures to human-classified detections. Every figure has a caption
with units and a table of its numbers; the public view leaves out media of people and vehicles.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from models.store import stats
from models.store.db import Deployment, Detection, Station
from models.store.insights import acoustic_indices
from serve import charts
from serve.cache import get_result_cache
from serve.pages.common import language, render
from serve.pages.figures import audience, cached_svg, detections_url, strings
from serve.web_session import ViewerDep

router = APIRouter(include_in_schema=False)

#: Acoustic indices offered, with their unit / range (``models.inference.acoustic_indices``).
INDICES = {"ACI": "ACI (Pieretti et al. 2011), dimensionless", "NDSI": "NDSI (-1 to 1)",
           "ADI": "ADI (Shannon index of frequency bands)", "AEI": "AEI (Gini coefficient, 0 to 1)",
           "BI": "BI (dB x kHz)", "H": "H = Ht x Hf (0 to 1)"}
INTERVALS = ("day", "week", "month")
#: Species drawn as their own series in the counts chart; the rest are summed as "other".
TOP_SPECIES = 6
MAX_INDEX_POINTS = 3000

TEXT = strings({
    "en": {"counts": "Detections per period", "counts_caption": "Detections per {interval} by species (local "
           "time of the deployment); bars link to the station's detections.",
           "diel_caption": "Detections per hour of local time (24 bins), all species.",
           "accumulation": "Species accumulation", "accumulation_caption": "Species (count) against sampling days "
           "(days with any record): observed (collector's curve), expected (Mao Tau rarefaction) and the Chao2 "
           "estimate of total richness (dashed).", "observed": "Observed", "mao_tau": "Mao Tau", "chao2": "Chao2",
           "days": "Sampling days", "richness": "Species", "indices": "Acoustic indices over time",
           "index": "Index", "indices_caption": "{index} per recording segment against the segment's start (UTC).",
           "segments": "segments", "other": "other", "unknown_station": "Unknown station",
           "no_station": "No stations yet.", "reviewed_note": "Only human-classified detections are counted."},
    "zh": {"counts": "各时段检测次数",
           "counts_caption": "按物种统计的每{interval}检测次数（部署所在地当地时间）；点击柱条查看该站点的检测记录。",
           "diel_caption": "当地时间每小时的检测次数（24 个时段），所有物种。", "accumulation": "物种累积曲线",
           "accumulation_caption": "物种数与采样天数（有任何记录的天）的关系：观测值（收集者曲线）、"
           "期望值（Mao Tau 稀疏化）以及 "
           "Chao2 总物种数估计（虚线）。", "observed": "观测值", "mao_tau": "Mao Tau", "chao2": "Chao2",
           "days": "采样天数", "richness": "物种数", "indices": "声学指数随时间变化", "index": "指数",
           "indices_caption": "每个录音片段的 {index}，横轴为片段开始时间（UTC）。", "segments": "个片段",
           "other": "其他",
           "unknown_station": "未知站点", "no_station": "尚无站点。", "reviewed_note": "只统计经人工审核的检测。"},
})


def _stations(session) -> list[str]:
    return sorted(set(session.scalars(select(Station.stationID)))
                  | {s for s in session.scalars(select(Deployment.stationID).distinct()) if s})


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, viewer: ViewerDep, lang: str | None = None,
                    stationID: Annotated[str | None, Query(max_length=64)] = None,
                    interval: Annotated[str | None, Query(max_length=16)] = None,
                    index: Annotated[str | None, Query(max_length=8)] = None,
                    reviewed: Annotated[str | None, Query(max_length=5)] = None) -> HTMLResponse:
    """A station's statistics (the first station when none is picked); bad values are named on the page."""
    lang = language(request, lang)
    t = TEXT[lang]
    errors = []
    if interval not in (None, "", *INTERVALS):
        errors.append(f"interval={interval!r} ({', '.join(INTERVALS)})")
    if index not in (None, "", *INDICES):
        errors.append(f"index={index!r} ({', '.join(INDICES)})")
    if reviewed not in (None, "", "1", "0", "true", "false"):
        errors.append(f"reviewed={reviewed!r} (1, 0)")
    interval = interval if interval in INTERVALS else "day"
    index = index if index in INDICES else "ACI"
    only_reviewed = reviewed in ("1", "true")
    conds = audience(viewer) + ([Detection.classificationMethod == "human"] if only_reviewed else [])
    who = ("public" if audience(viewer) else "reviewer", only_reviewed, lang)
    with request.app.state.sessions() as s:
        stations = _stations(s)
        status = 200
        if stationID and stationID not in stations:
            errors.append(f"{t['unknown_station']}: {stationID!r}")
            status, station = 404, None
        else:
            station = stationID or (stations[0] if stations else None)
        ctx = {"stations": stations, "station": station, "interval": interval, "intervals": INTERVALS,
               "index": index, "indices": INDICES, "reviewed": only_reviewed,
               "error": f"{t['bad_input']}: " + "; ".join(errors) if errors else ""}
        if station is not None:
            # counts, diel activity, richness and indices aggregate over the station's every detection (8 s
            # cold, 1.3 s with the charts cached at 1,000,000 detections): cached like the overview
            ctx.update(get_result_cache(request).get(
                ("statistics-page", station, interval, index, *who),
                lambda: _figures(request, s, station, interval, index, conds, who, t, lang)))
    return render(request, "statistics.html", lang, viewer, text=TEXT, status_code=status, **ctx)


def _figures(request, s, station, interval, index, conds, who, t, lang) -> dict:
    counts = stats.species_counts(s, station, interval, where=conds)
    totals: dict[str, int] = {}
    for r in counts:
        totals[r.scientificName] = totals.get(r.scientificName, 0) + r.count
    top = sorted(totals, key=lambda n: (-totals[n], n))[:TOP_SPECIES]
    periods = stats.periods_between(counts[0].period, counts[-1].period, interval) if counts else []
    grid = {name: dict.fromkeys(periods, 0) for name in [*top, t["other"]]}
    for r in counts:
        if r.period in grid[t["other"]]:  # periods_between stops at its limit (1000 days): later rows are not drawn
            grid[r.scientificName if r.scientificName in top else t["other"]][r.period] += r.count
    grid = {n: by for n, by in grid.items() if any(by.values())}  # no empty "other"
    series = [(name, list(by.values())) for name, by in grid.items()]
    names = {sp.scientificName: (sp.vernacularNameZH if lang == "zh" else sp.vernacularNameEN)
             for sp in request.app.state.catalogue}
    legend = [(names.get(n) or n, v) for n, v in series]
    url = detections_url(lang, stationID=station)
    counts_svg = cached_svg(request, s, ("st-counts", station, interval, *who), lambda: charts.bar_svg(
        periods, legend, prefix="counts", title=t["counts"], ylabel=t["count"], xlabel=t[interval],
        urls=[url] * len(periods)) if periods else None)
    hours = stats.diel_activity(s, station, where=conds)  # once: {species: 24 counts}
    diel = [sum(h[i] for h in hours.values()) for i in range(24)]
    diel_svg = cached_svg(request, s, ("st-diel", station, *who), lambda: charts.bar_svg(
        [str(h) for h in range(24)], [(t["count"], diel)], prefix="diel", title=t["diel"], ylabel=t["count"],
        xlabel=t["hour"]) if any(diel) else None)
    rich = stats.richness(s, station, where=conds)
    days = list(range(1, len(rich.samplingUnits) + 1))
    rich_svg = cached_svg(request, s, ("st-rich", station, *who), lambda: charts.line_svg(
        days, [(t["observed"], rich.collectorsCurve), (t["mao_tau"], rich.maoTau)], prefix="rich",
        title=t["accumulation"], ylabel=t["richness"], xlabel=t["days"], hlines=[(t["chao2"], rich.chao2)])
        if rich.observedRichness else None)
    total, segments = acoustic_indices(s, station, limit=MAX_INDEX_POINTS)
    timed = [(seg.segmentStartUTC, getattr(seg, index)) for seg in segments if seg.segmentStartUTC is not None]
    index_svg = cached_svg(request, s, ("st-index", station, index, who[0], lang), lambda: charts.line_svg(
        [x for x, _ in timed], [(index, [v for _, v in timed])], prefix="index", title=t["indices"],
        ylabel=INDICES[index], markers=True) if any(v is not None for _, v in timed) else None)
    species_rows = [[names.get(n) or n, {"text": str(totals[n]), "url": detections_url(
        lang, stationID=station, scientificName=n)}] for n in sorted(totals, key=lambda n: (-totals[n], n))]
    return {"counts_svg": counts_svg, "diel_svg": diel_svg, "rich_svg": rich_svg, "index_svg": index_svg,
            "count_rows": [[p, *(grid[n][p] for n in grid)] for p in periods],
            "count_heads": [names.get(n) or n for n in grid],
            "diel": diel, "rich": rich, "index_rows": [[x.strftime("%Y-%m-%d %H:%M:%S"), "–" if v is None else
                                                        f"{v:.4g}"] for x, v in timed],
            "index_total": total, "species_rows": species_rows}
