"""Client file names never reach the file system (path traversal, NUL, empty names)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serve.uploads import sanitise_filename
from tests.serve_helpers import jpeg_bytes

HOSTILE = ["../../../../tmp/evil_upload.jpg", "..\\..\\evil.jpg", "/etc/cron.d/evil.jpg", "evil.jpg\x00.png",
           "C:\\Windows\\Temp\\evil.jpg", "photos/../../evil.jpg", "....//....//evil.jpg", "..", "./", " \t"]


@pytest.mark.parametrize(("raw", "clean"), [
    ("../../../../tmp/evil_upload.jpg", "evil_upload.jpg"),
    ("..\\..\\evil.jpg", "evil.jpg"),
    ("/etc/cron.d/evil.jpg", "evil.jpg"),
    ("evil.jpg\x00.png", "evil.jpg.png"),
    ("C:\\Windows\\Temp\\evil.jpg", "evil.jpg"),
    ("....//....//evil.jpg", "evil.jpg"),
    ("%2e%2e%2fevil.jpg", "%2e%2e%2fevil.jpg"),
    ("dir/", "upload"), ("..", "upload"), (".", "upload"), ("", "upload"), (None, "upload"), ("\x00", "upload"),
    ("IMG 0001.JPG", "IMG 0001.JPG"), ("野猪.jpg", "野猪.jpg"), ("a\r\nb.jpg", "ab.jpg"), ("x" * 300, "x" * 255),
])
def test_sanitise_filename(raw, clean):
    assert sanitise_filename(raw) == clean


@pytest.fixture()
def client(client, uploader_headers):
    """The app's client, sending an uploader key (uploads need one)."""
    client.headers.update(uploader_headers)
    return client


def raw_upload(client: TestClient, filename: bytes | None, data: bytes, deployment: str = "S1-cam"):
    """POST a hand-built multipart body, so the file name reaches the server byte for byte."""
    boundary = b"----biodivtestboundary"
    disposition = b'form-data; name="file"' + (b'; filename="' + filename + b'"' if filename is not None else b"")
    body = b"".join([
        b"--" + boundary + b"\r\n", b'Content-Disposition: form-data; name="deploymentID"\r\n\r\n',
        deployment.encode() + b"\r\n", b"--" + boundary + b"\r\n", b"Content-Disposition: " + disposition + b"\r\n",
        b"Content-Type: image/jpeg\r\n\r\n", data + b"\r\n", b"--" + boundary + b"--\r\n",
    ])
    return client.post("/v1/media", content=body,
                       headers={"Content-Type": "multipart/form-data; boundary=" + boundary.decode()})


def assert_confined(settings, responses, tmp_path: Path) -> None:
    """Only content-addressed files under the media root; no absolute path in any response."""
    root = settings.media_root.resolve()
    for p in tmp_path.rglob("*"):
        if p.is_file() and p.parent.name != "db" and p != settings.session_key_file:  # the pages' cookie key
            assert p.resolve().parent.parent == root, p
            assert re.fullmatch(r"[0-9a-f]{64}\.jpg", p.name) and p.parent.name == p.name[:2], p
    assert not any(tmp_path.rglob("evil*")) and not Path("/tmp/evil_upload.jpg").exists()
    for r in responses:
        assert r.status_code != 500
        detail = r.json().get("detail") if r.headers.get("content-type") == "application/json" else None
        assert not (isinstance(detail, dict) and detail.get("reason") == "unknown_deployment"), r.text
        for marker in (str(tmp_path), str(root), str(Path.cwd()), "/etc/", "/tmp/", "C:\\\\"):
            assert marker not in r.text, (marker, r.text)
        if r.status_code in (200, 201):
            name = r.json()["media"]["fileName"]
            assert "/" not in name and "\\" not in name and "\x00" not in name and name not in ("", ".", "..")
            assert not r.json()["media"]["filePath"].startswith("/")


@pytest.mark.usefixtures("deployments")
@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_via_http_client(client, settings, tmp_path, name):
    r = client.post("/v1/media", files={"file": (name, jpeg_bytes(20), "image/jpeg")}, data={"deploymentID": "d"})
    assert r.status_code in (201, 422), r.text
    assert_confined(settings, [r], tmp_path)


@pytest.mark.usefixtures("deployments")
@pytest.mark.parametrize("name", [n.encode() for n in HOSTILE] + [b"..\\..\\..\\evil.jpg", b"evil.jpg\x00.png"])
def test_hostile_names_raw_bytes(client, settings, tmp_path, name):
    r = raw_upload(client, name, jpeg_bytes(21))
    assert r.status_code in (201, 400, 422), r.text
    assert_confined(settings, [r], tmp_path)
    if r.status_code == 201:
        assert r.json()["media"]["fileName"] == sanitise_filename(r.json()["media"]["fileName"])


@pytest.mark.usefixtures("deployments")
def test_empty_or_missing_file_name_is_422_not_500(client, settings, tmp_path, db):
    data = jpeg_bytes(22)
    responses = [raw_upload(client, b"", data), raw_upload(client, None, data),
                 client.post("/v1/media", files={"file": ("", data, "image/jpeg")}, data={"deploymentID": "d"})]
    for r in responses:
        assert r.status_code == 422, r.text
    assert responses[0].json()["detail"]["reason"] == "missing_filename"
    assert "\\xff" not in responses[1].text and len(responses[1].text) < 500  # the content is not echoed back
    assert_confined(settings, responses, tmp_path)
    assert not settings.media_root.exists() or not any(settings.media_root.rglob("*"))
