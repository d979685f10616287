"""``/species`` (the catalogue with counts, names in both languages, invasive marked, a search) and
``/species/{scientificName}``: counts over time, diel activity, stations where seen, the best images, and how
far the machine can be trusted (the reviewers' confirmed share per probability band,
:func:`models.store.stats.review_agreement`). Public readers get the public view (no media of people or
vehicles)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from models.store import stats
from models.store.insights import best_media, detections_per_species, species_is, stations_of_species
from models.taxonomy.catalogue import normalise_name
from serve import charts
from serve.cache import get_result_cache
from serve.pages.common import language, render
from serve.pages.figures import audience, cached_svg, detections_url, strings
from serve.web_session import ViewerDep

router = APIRouter(include_in_schema=False)

TEXT = strings({
    "en": {"species_list": "Species", "over_time": "Detections over time", "over_time_caption":
           "Detections of this species per {interval} (local time of the deployment), all stations.",
           "diel_caption": "Detections per hour of the day (local time of the deployment, 24 bins), all stations.",
           "where_seen": "Stations where seen", "first": "First", "last": "Last", "best_media": "Best images",
           "best_caption": "The images with the highest model probability; each opens the detections of its station.",
           "trust": "How far the machine can be trusted", "trust_caption": "Of the detections the model called this "
           "species and a reviewer checked, per model probability band: reviews that confirmed the label (blue) "
           "and that corrected it (orange).", "unknown_species": "No species of this name is known or detected.",
           "not_in_catalogue": "Not in the species catalogue.", "matches": "{n} species", "search_label":
           "Name (scientific, Chinese or English)", "no_species": "No species match."},
    "zh": {"species_list": "物种", "over_time": "检测次数随时间变化", "over_time_caption":
           "该物种每{interval}的检测次数（部署所在地当地时间），所有站点。",
           "diel_caption": "一天中每小时的检测次数（部署所在地当地时间，24 个时段），所有站点。",
           "where_seen": "记录到的站点", "first": "首次", "last": "最近", "best_media": "最佳图像",
           "best_caption": "模型概率最高的图像；点击打开该站点的检测记录。", "trust": "机器识别的可信程度",
           "trust_caption": "模型判为该物种、且经审核员检查的检测，按模型概率区间统计："
                            "确认标签的审核（蓝色）与更正标签的审核（橙色）。",
           "unknown_species": "没有这个名称的已知或已检测物种。", "not_in_catalogue": "不在物种名录中。",
           "matches": "{n} 个物种", "search_label": "名称（学名、中文名或英文名）",
           "no_species": "没有符合条件的物种。"},
})
INTERVALS = ("week", "month")


@router.get("/species", response_class=HTMLResponse)
def species_list(request: Request, viewer: ViewerDep, lang: str | None = None,
                 q: Annotated[str | None, Query(max_length=100)] = None) -> HTMLResponse:
    """Every catalogue species and every other detected name, most detected first; ``q`` searches the
    scientific and vernacular names (case-insensitive substring)."""
    lang = language(request, lang)
    catalogue = request.app.state.catalogue
    conds = audience(viewer)
    with request.app.state.sessions() as s:  # a GROUP BY over every detection: cached like the overview
        counts = get_result_cache(request).get(("species-counts", bool(conds)),
                                               lambda: detections_per_species(s, conds))
    rows = {normalise_name(sp.scientificName): {"name": sp.scientificName, "zh": sp.vernacularNameZH,
                                                "en": sp.vernacularNameEN, "invasive": sp.is_invasive,
                                                "count": counts.get(normalise_name(sp.scientificName), 0)}
            for sp in catalogue}
    for key, n in counts.items():
        if key not in rows:
            sp = catalogue.get(key)
            rows[key] = {"name": sp.scientificName if sp else key[:1].upper() + key[1:], "zh": "", "en": "",
                         "invasive": catalogue.is_invasive(key), "count": n}
    needle = (q or "").strip().casefold()
    items = sorted((r for r in rows.values()
                    if not needle or any(needle in (r[k] or "").casefold() for k in ("name", "zh", "en"))),
                   key=lambda r: (-r["count"], r["name"]))
    return render(request, "species_list.html", lang, viewer, text=TEXT, items=items, q=q or "")


def _species_figures(s, name: str, interval: str, conds: list) -> tuple:
    """What the species page shows, from the statistics core: the stations, the periods and their counts, the
    diel activity (24 counts), the review-agreement bands and the best images. Each aggregates over every
    detection of the species (with the public's visibility probe per row: about 0.8 s per query at 1,000,000
    detections), so the page caches the tuple for ``Settings.stats_cache_s`` like the overview."""
    where = [*conds, species_is(name)]
    seen = stations_of_species(s, name, conds)
    by_period: dict[str, int] = {}
    for row in stats.species_counts(s, None, interval, where=where):
        by_period[row.period] = by_period.get(row.period, 0) + row.count
    periods = stats.periods_between(min(by_period), max(by_period), interval) if by_period else []
    values = [by_period.get(p, 0) for p in periods]
    hours = stats.diel_activity(s, None, where=where)  # once: {species: 24 counts}
    diel = [sum(h[i] for h in hours.values()) for i in range(24)]
    return (seen, periods, values, diel, stats.review_agreement(s, scientific_name=name, where=conds),
            best_media(s, name, conds))


@router.get("/species/{scientificName}", response_class=HTMLResponse)
def species_page(request: Request, viewer: ViewerDep, scientificName: str, lang: str | None = None,
                 interval: Annotated[str | None, Query(max_length=16)] = None) -> HTMLResponse:
    """One species: counts per week or month, diel activity, stations, best images, confirmed share per band."""
    lang = language(request, lang)
    t = TEXT[lang]
    error = ""
    if interval not in (None, "", *INTERVALS):
        error = f"{t['bad_input']}: interval={interval!r} ({', '.join(INTERVALS)})"
    interval = interval if interval in INTERVALS else "week"
    state = request.app.state
    sp = state.catalogue.get(scientificName)
    name = sp.scientificName if sp else " ".join(scientificName.split())
    conds = audience(viewer)
    who = "public" if conds else "reviewer"
    with state.sessions() as s:
        figures = get_result_cache(request).get(("species-page", name.casefold(), interval, who),
                                                lambda: _species_figures(s, name, interval, conds))
        seen, periods, values, diel, bands, media = figures
        if sp is None and not seen:
            return render(request, "species.html", lang, viewer, text=TEXT, sp=None, species_name=name, missing=True,
                          error=error, status_code=404)
        key = (name.casefold(), who, lang)
        over_time = cached_svg(request, s, ("sp-time", interval, *key), lambda: charts.bar_svg(
            periods, [(t["count"], values)], prefix="time", title=t["over_time"], ylabel=t["count"],
            xlabel=t[interval]) if periods else None)
        diel_svg = cached_svg(request, s, ("sp-diel", *key), lambda: charts.bar_svg(
            [str(h) for h in range(24)], [(t["count"], diel)], prefix="diel", title=t["diel"], ylabel=t["count"],
            xlabel=t["hour"]) if any(diel) else None)
        trust_svg = cached_svg(request, s, ("sp-trust", *key), lambda: charts.bar_svg(
            [f"{b.low:.1f}–{b.high:.1f}" for b in bands], [(t["confirmed"], [b.confirmed for b in bands]),
                                                          (t["corrected"], [b.corrected for b in bands])],
            prefix="trust", title=t["trust"], ylabel=t["reviewed"], xlabel=t["band"])
            if any(b.reviewed for b in bands) else None)
    return render(request, "species.html", lang, viewer, text=TEXT, sp=sp, species_name=name, missing=False,
                  error=error,
                  interval=interval, intervals=INTERVALS, periods=list(zip(periods, values, strict=True)), diel=diel,
                  seen=seen, media=media, bands=bands, over_time=over_time, diel_svg=diel_svg, trust_svg=trust_svg,
                  list_url=detections_url(lang, scientificName=name),
                  station_urls={st.stationID: detections_url(lang, stationID=st.stationID, scientificName=name)
                                for st in seen})
