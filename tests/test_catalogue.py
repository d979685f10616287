"""Species catalogue: packaged entries, name matching, unknown labels, blank aliases, name lists."""

from __future__ import annotations

import logging

import pytest

from models.media.errors import CatalogueError
from models.taxonomy.catalogue import BLANK, STATUSES, Catalogue, clean_name, is_blank, normalise_name, read_name_list

HEADER = ("scientificName,taxonRank,vernacularNameEN,vernacularNameZH,class,order,family,statusChina,"
          "statusSource,sensitive,detectionThreshold\n")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def test_packaged_invasive_flags(catalogue):
    assert catalogue.is_invasive("Lithobates catesbeianus")
    assert catalogue.is_invasive("Trachemys scripta elegans")
    assert not catalogue.is_invasive("Sus scrofa")
    assert catalogue.get("Sus scrofa").statusChina == "native"
    bullfrog = catalogue.get("Lithobates catesbeianus")
    assert (bullfrog.statusChina, bullfrog.class_, bullfrog.vernacularNameZH) == ("invasive", "Amphibia", "牛蛙")
    assert catalogue.get("Trachemys scripta elegans").taxonRank == "subspecies"


def test_packaged_rows_are_clean(catalogue):
    assert len(catalogue) > 0
    for sp in catalogue:
        assert sp.statusChina in STATUSES
        assert clean_name(sp.scientificName) == sp.scientificName


@pytest.mark.parametrize("raw", ["  lithobates   CATESBEIANUS\r", "\tLithobates catesbeianus\t",
                                 "LITHOBATES CATESBEIANUS"])
def test_names_match_after_trimming_and_case_folding(catalogue, raw):
    assert catalogue.get(raw).scientificName == "Lithobates catesbeianus"
    assert catalogue.resolve(raw) == "Lithobates catesbeianus"
    assert catalogue.is_invasive(raw)


def test_normalise_and_clean():
    assert normalise_name("  Sus\t\tScrofa \r") == "sus scrofa"
    assert clean_name("  Sus\t\tScrofa \r") == "Sus Scrofa"
    # NFC: "e" + combining acute equals the precomposed character
    assert normalise_name("Cafe\u0301") == normalise_name("Caf\u00e9")


def test_unknown_label_raises_and_names_it(catalogue):
    with pytest.raises(CatalogueError) as exc:
        catalogue.resolve("  Panthera   tigris ", "camera_traps/manifest.csv line 7")
    assert "'Panthera tigris'" in str(exc.value)
    assert "camera_traps/manifest.csv line 7" in str(exc.value)


@pytest.mark.parametrize("label", ["", "blank", " BLANK ", "Empty", "none", "No  Animal", "\t"])
def test_blank_aliases(catalogue, label):
    assert is_blank(label)
    assert catalogue.resolve(label) == BLANK
    assert not catalogue.is_invasive(label)


def test_none_and_non_blank():
    assert is_blank(None)
    assert not is_blank("Sus scrofa")
    assert not is_blank("blank frame")


def test_extra_invasive_list_flags_names_outside_the_catalogue():
    cat = Catalogue.load(extra_invasive=(" procyon LOTOR ", "Sus scrofa"))
    assert cat.is_invasive("Procyon lotor")
    assert cat.get("Procyon lotor") is None
    assert cat.is_invasive("sus scrofa")  # the extra list wins over the catalogue's "native"
    assert not cat.is_invasive("Vulpes vulpes")


def test_custom_catalogue_parsing(tmp_path):
    p = tmp_path / "species.csv"
    p.write_text(HEADER + "Foo bar,species,Foo,,Aves,Passeriformes,Fooidae,native,x,yes,0.8\n"
                 "Baz qux,species,Baz,,Aves,Passeriformes,Fooidae,invasive,y,,\n", encoding="utf-8")
    cat = Catalogue.load(p)
    assert len(cat) == 2
    foo = cat.get("foo BAR")
    assert (foo.sensitive, foo.detectionThreshold, foo.is_invasive) == (True, 0.8, False)
    baz = cat.get("Baz qux")
    assert (baz.sensitive, baz.detectionThreshold, baz.is_invasive) == (False, None, True)
    d = baz.as_dict()
    assert d["class"] == "Aves" and "class_" not in d and d["isInvasive"] is True


@pytest.mark.parametrize(("rows", "message"), [
    ("A a,species,,,C,O,F,native,s,,\nB b,species,,,C,O,F,alien,s,,\n", "line 3"),
    ("A a,species,,,C,O,F,native,s,,high\n", "detectionThreshold 'high'"),
    ("A a,species,,,C,O,F,native,s,,\n a  A ,species,,,C,O,F,native,s,,\n", "duplicate"),
])
def test_invalid_catalogue_rows(tmp_path, rows, message):
    p = tmp_path / "species.csv"
    p.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        Catalogue.load(p)


def test_read_name_list_blank_lines_bom_duplicates(tmp_path, caplog):
    p = tmp_path / "list.txt"
    # BOM, a duplicate in another case, a whitespace-only line (3) and an empty line (5); final newline
    p.write_bytes("\ufeffProcyon lotor\nPROCYON  LOTOR\n \t\nMyocastor coypus\n\n".encode())
    with caplog.at_level(logging.WARNING, logger="models.taxonomy.catalogue"):
        nl = read_name_list(p)
    assert nl.names == ("Procyon lotor", "Myocastor coypus")
    assert nl.skipped_lines == (3, 5)
    assert nl.normalised == 1  # only "PROCYON  LOTOR" (double space) differs from its cleaned form
    assert "" not in nl.names
    assert "3, 5" in caplog.text


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_read_name_list_crlf_and_cr_line_ends(tmp_path, newline):
    p = tmp_path / "list.txt"
    p.write_bytes(newline.join(["Procyon lotor", "Myocastor coypus", ""]).encode())
    nl = read_name_list(p)
    assert nl.names == ("Procyon lotor", "Myocastor coypus")
    assert nl.skipped_lines == ()
    assert nl.normalised == 2  # each line carried a CR that had to be removed


def test_read_name_list_without_final_newline(tmp_path):
    p = tmp_path / "list.txt"
    p.write_text("Procyon lotor\nMyocastor coypus", encoding="utf-8")
    nl = read_name_list(p)
    assert nl.names == ("Procyon lotor", "Myocastor coypus")
    assert (nl.normalised, nl.skipped_lines) == (0, ())


def test_search_by_scientific_english_or_chinese_name():
    from models.taxonomy.catalogue import Catalogue

    cat = Catalogue.load()
    assert [sp.scientificName for sp in cat.search("牛蛙")] == ["Lithobates catesbeianus"]
    assert [sp.scientificName for sp in cat.search("  WILD   boar ")] == ["Sus scrofa"]
    assert [sp.scientificName for sp in cat.search("sus scrofa")] == ["Sus scrofa"]
    partial = cat.search("frog")
    assert len(partial) >= 2 and all("frog" in (sp.vernacularNameEN.lower() + sp.scientificName.lower())
                                     for sp in partial)
    assert cat.search("") == [] and cat.search("no such animal") == []
