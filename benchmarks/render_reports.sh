#!/usr/bin/env bash
# Render the score, compare and leaderboard pages of a demo to PNG with headless Chromium, to look
# at the charts as a reader will (issue 14, item 5).
#
# Usage: benchmarks/render_reports.sh [OUT]   (default /tmp/flair-kit-reports; HEIGHT=px of the shot)
# Needs: flair-kit on PATH (the venv's bin), and Chromium (Debian: apt-get install chromium).
# Writes OUT/{score,compare,leaderboard}.html and OUT/{score,compare,leaderboard}.png.
set -euo pipefail
OUT=${1:-/tmp/flair-kit-reports}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome)}
mkdir -p "$OUT"
"$PYTHON" "$HERE/make_report_demo.py" "$OUT"
TRUTH="$OUT/toy/flair_1_labels_test"
IMAGES="$OUT/toy/flair_1_aerial_test"
RUNS="$OUT/runs"
(cd "$RUNS/strong" && zip -q -r -0 ../strong.zip .)
flair-kit score "$RUNS/medium" "$TRUTH" --save-counts "$RUNS/medium.npz" \
    --html "$OUT/score.html" --images "$IMAGES" --errors 6 > /dev/null
flair-kit compare "$RUNS/strong.zip" "$RUNS/medium.npz" --truth "$TRUTH" \
    --html "$OUT/compare.html" --json "$OUT/compare.json" --images "$IMAGES" --errors 4
flair-kit leaderboard "$RUNS/weak" "$RUNS/medium.npz" "$RUNS/strong.zip" --truth "$TRUTH" \
    --html "$OUT/leaderboard.html" --csv "$OUT/leaderboard.csv" --json "$OUT/leaderboard.json" \
    --errors 5
for page in score compare leaderboard; do
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size=1200,${HEIGHT:-16000} --screenshot="$OUT/$page.png" "file://$OUT/$page.html" 2>/dev/null
    echo "rendered $OUT/$page.png"
done
