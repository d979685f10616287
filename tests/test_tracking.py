"""MLflow helpers that need no tracking server: flattening, param limits, data hash, code version."""

from __future__ import annotations

import hashlib
import json

from pipeline.tracking import MAX_PARAM_CHARS, code_version, files_hash, flatten, safe_params


def test_flatten_nested():
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": "x"}}, "f": [1, 2]}) == {"a": 1, "b.c": 2, "b.d.e": "x",
                                                                            "f": [1, 2]}


def test_safe_params_keeps_short_values_as_text():
    logged, overflow = safe_params({"lr": 0.002, "name": "mobilenet", "flags": [1, 2], "aug": True, "n": None})
    assert logged == {"lr": "0.002", "name": "mobilenet", "flags": "[1, 2]", "aug": "true", "n": "null"}
    assert overflow == {}


def test_safe_params_shortens_long_values_with_a_marker():
    names = [f"Species number {i:03d}" for i in range(60)]
    exact = "x" * MAX_PARAM_CHARS
    logged, overflow = safe_params({"model": {"class_names": names}, "exact": exact})
    text = json.dumps(names, ensure_ascii=False)
    assert len(text) > MAX_PARAM_CHARS
    value = logged["model.class_names"]
    assert len(value) == MAX_PARAM_CHARS
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    assert value.endswith(f"...[truncated; full value in artifact model.class_names.json, sha256 {digest}]")
    assert text.startswith(value[: value.index("...[truncated")])
    assert overflow == {"model.class_names": names}
    assert logged["exact"] == exact  # exactly at the limit is kept whole


def test_files_hash_is_over_the_concatenated_bytes(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    (tmp_path / "b").write_bytes(b"def")
    assert files_hash([tmp_path / "a", tmp_path / "b"]) == hashlib.sha256(b"abcdef").hexdigest()
    assert files_hash([tmp_path / "b", tmp_path / "a"]) == hashlib.sha256(b"defabc").hexdigest()


def test_code_version_outside_git(tmp_path):
    assert code_version(tmp_path) == "unknown"
