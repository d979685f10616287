#!/usr/bin/env bash
# Inference-only install check (issue 12): `pip install .` without the `train` extra classifies the station
# images and recordings and serves them with no PyTorch in the environment.
#   1. the full environment (.venv) builds two small seeded bundles and exports them to ONNX;
#   2. a fresh venv gets `pip install .` plus `pip install --no-deps silero-vad` (the speech filter);
#   3. there, `import torch` must fail, `biodiv classify` must classify every station image and recording with
#      the ONNX exports (peak RSS printed; the goal is under 500 MB), and the service must start and answer.
# Usage: .ci/inference_only.sh [workdir]   (run from the repository root after `make install` and `dvc pull`)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${1:-}" ]; then
  work=$1
else  # a temporary workdir (a ~0.9 GB venv) is removed on exit, so repeated runs do not fill the disk
  work=$(mktemp -d /tmp/biodiv-lean.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/artifacts"
.venv/bin/python - "$work/artifacts" <<'EOF'
import sys
from pathlib import Path

from models.learning.onnx_bundle import export_onnx
from tests.serve_helpers import make_bundle

out = Path(sys.argv[1])
for modality in ("image", "audio"):
    make_bundle(out / f"{modality}_torch", modality)
    export_onnx(out / f"{modality}_torch", out / f"{modality}_model_onnx")
EOF
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --no-cache-dir --upgrade pip
"$work/venv/bin/python" -m pip install -q --no-cache-dir .
"$work/venv/bin/python" -m pip install -q --no-cache-dir --no-deps silero-vad==6.2.3
cd "$work"
if venv/bin/python -c "import torch" 2>/dev/null; then
  echo "inference-only install: torch is importable, it must not be" >&2
  exit 1
fi
echo "inference-only install: import torch fails, as it must"
venv/bin/python - "$OLDPWD/data/raw/stations" <<'EOF'
import json
import resource
import subprocess
import sys
from pathlib import Path

stations = Path(sys.argv[1])
images = sorted(p for p in stations.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
recordings = sorted(p for p in stations.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
cmd = [str(Path("venv/bin/biodiv").resolve()), "classify", str(stations), "--out", "lean.json",
       "--artifacts", "artifacts"]
done = subprocess.run(cmd, capture_output=True, text=True)
print(done.stdout[-1500:])
if done.returncode != 0:
    print(done.stderr[-3000:], file=sys.stderr)
    sys.exit(f"biodiv classify failed with {done.returncode}")
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
result = json.loads(Path("lean.json").read_text())
classified = {Path(i["file"]).name for i in result["images"]}
missing = [p.name for p in images if p.name not in classified]
print(f"inference-only: {len(images)} station images, {len(recordings)} recordings; peak RSS {peak_mb:.0f} MB")
if missing:
    sys.exit(f"images not classified: {missing[:5]}")
EOF
port=$(venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BIODIV_DATABASE_URL="sqlite:///$work/lean.db" BIODIV_IMAGE_BUNDLE="$work/artifacts/image_model_onnx" \
  BIODIV_AUDIO_BUNDLE="$work/artifacts/audio_model_onnx" BIODIV_MEDIA_ROOT="$work/media" \
  venv/bin/python -m uvicorn --factory serve.app:create_app --host 127.0.0.1 --port "$port" --log-level warning &
server=$!
trap 'kill $server 2>/dev/null || true; [ -n "${1:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 1 150); do
  if venv/bin/python -c "import httpx, sys; sys.exit(httpx.get('http://127.0.0.1:$port/health').status_code != 200)" \
      2>/dev/null; then
    venv/bin/python -c "import httpx; print('inference-only service:', httpx.get('http://127.0.0.1:$port/health').json())"
    venv/bin/python -c "import sys; import serve.app; assert 'torch' not in sys.modules"
    exit 0
  fi
  sleep 0.2
done
echo "inference-only service did not start" >&2
exit 1
