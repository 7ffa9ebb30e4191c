#!/usr/bin/env bash
# check-report.sh REPORT.html [SCREENSHOT.png]
# Renders a `pacer report` page in headless Chromium and fails (exit 1, saying why) when the page
# did not draw cleanly: <html data-rendered> is not "ok", data-errors is not 0, data-charts is 0,
# a chart of run 0 (completions, latency, errors, tokens) is missing, or Chromium logged a console
# error. Chromium (--enable-logging=stderr) logs every console message of a web page at INFO
# level, whatever its level:
#   [pid:tid:MMDD/hhmmss.us:INFO:CONSOLE:12] "Uncaught TypeError: …", source: file:///…/r.html (12)
# so errors are told apart by their text: uncaught exceptions ("Uncaught …", "Uncaught (in
# promise) …"), console.error calls (the page prefixes them with "[pacer-report error]"), loads
# the page's Content-Security-Policy blocked ("… violates the following Content Security Policy
# directive …": the report must not load anything from elsewhere) and other failed loads.
# The page counts these itself too (data-errors), later ones included.
# With SCREENSHOT.png, also writes a 1400×2400 screenshot of the top of the page.
# CHECK_REPORT_TIMEOUT: seconds allowed to each Chromium call (default 120).
set -euo pipefail

die() { echo "check-report: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 REPORT.html [SCREENSHOT.png]"
[ -f "$1" ] || die "no such file: $1"
REPORT=$(realpath "$1")
SHOT=${2:-}
LIMIT=${CHECK_REPORT_TIMEOUT:-120} # seconds for each Chromium call

CHROME=
for c in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); break; fi
done
[ -n "$CHROME" ] || die "no Chromium found (tried chromium, chromium-browser, google-chrome, google-chrome-stable): install one"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/check-report.XXXXXX")
GROUP= # the process group of the Chromium call under way
cleanup() { if [ -n "$GROUP" ]; then kill -KILL -- "-$GROUP" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# A fresh profile each call. `timeout` runs Chromium in a process group of its own (its id is
# timeout's pid) and signals the whole group when it hangs; after each call, Chromium's helpers
# (zygote, GPU, renderers) get a moment to exit and whatever is left of that group is killed.
chrome() {
  local pid rc=0
  timeout -k 10 "$LIMIT" "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run --no-default-browser-check \
    --disable-extensions --disable-background-networking --user-data-dir="$WORK/profile" \
    --enable-logging=stderr --v=0 --virtual-time-budget=10000 "$@" &
  pid=$!
  GROUP=$pid
  wait "$pid" || rc=$?
  for _ in $(seq 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  GROUP=
  return "$rc"
}

set +e
chrome --dump-dom "file://$REPORT" >"$WORK/dom.html" 2>"$WORK/stderr.txt"
rc=$?
set -e
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then die "Chromium timed out (${LIMIT} s) on $REPORT"; fi
if [ $rc -ne 0 ]; then tail -n 20 "$WORK/stderr.txt" >&2; die "Chromium failed (exit $rc) on $REPORT"; fi
[ -s "$WORK/dom.html" ] || die "Chromium dumped no DOM for $REPORT"

# The <html> start tag carries the page's verdict.
HTML_TAG=$(grep -o -m1 '<html[^>]*>' "$WORK/dom.html" || true)
attr() { sed -n "s/.* $1=\"\([^\"]*\)\".*/\1/p" <<<"$HTML_TAG"; }
RENDERED=$(attr data-rendered)
CHARTS=$(attr data-charts)
ERRORS=$(attr data-errors)

problems=()
page_errors() { # the messages of the page's #report-errors box, one a line
  python3 - "$WORK/dom.html" <<'EOF' 2>/dev/null || true
import html, re, sys
box = re.search(r'<div id="report-errors".*?</ul>', open(sys.argv[1], encoding="utf-8", errors="replace").read(), re.S)
for li in re.findall(r"<li>(.*?)</li>", box.group(0) if box else "", re.S):
    print("  page: " + html.unescape(li).strip().replace("\n", " ")[:400])
EOF
}
[ "$RENDERED" = ok ] || problems+=("data-rendered is '${RENDERED:-missing}', not 'ok'")
[ "${ERRORS:-missing}" = 0 ] || problems+=("data-errors is '${ERRORS:-missing}', not 0")
[ -n "$CHARTS" ] && [ "$CHARTS" != 0 ] || problems+=("data-charts is '${CHARTS:-missing}': no Chart.js chart was drawn")
for kind in completions latency errors tokens; do
  grep -Eq "<canvas[^>]*data-chart=\"$kind\"[^>]*data-run=\"0\"|<canvas[^>]*data-run=\"0\"[^>]*data-chart=\"$kind\"" "$WORK/dom.html" \
    || problems+=("no '$kind' chart for run 0")
done
CONSOLE_ERRORS=$(grep -E ':CONSOLE[:(]' "$WORK/stderr.txt" \
  | grep -E '\] "(Uncaught|\[pacer-report error\]|Failed to load resource|Not allowed to load|Refused to)|Content Security Policy' || true)
[ -z "$CONSOLE_ERRORS" ] || problems+=("console errors:"$'\n'"$(sed 's/^/  /' <<<"$CONSOLE_ERRORS" | cut -c1-400)")

if [ ${#problems[@]} -gt 0 ]; then
  echo "check-report: FAILED: $REPORT" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  page_errors >&2
  exit 1
fi

if [ -n "$SHOT" ]; then
  SHOT_ABS=$(realpath -m "$SHOT")
  rm -f "$SHOT_ABS"
  set +e
  chrome --hide-scrollbars --window-size=1400,2400 --screenshot="$SHOT_ABS" "file://$REPORT" >/dev/null 2>"$WORK/shot-stderr.txt"
  rc=$?
  set -e
  [ $rc -eq 0 ] || { tail -n 20 "$WORK/shot-stderr.txt" >&2; die "Chromium failed (exit $rc) taking the screenshot"; }
  [ -f "$SHOT_ABS" ] || die "no screenshot written to $SHOT_ABS"
  [ "$(head -c 8 "$SHOT_ABS" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || die "$SHOT_ABS is not a PNG"
  size=$(stat -c %s "$SHOT_ABS")
  [ "$size" -gt 20000 ] || die "screenshot $SHOT_ABS is only $size bytes: the page looks blank"
fi

echo "check-report: OK: $(basename "$REPORT"): $CHARTS charts, 0 errors${SHOT:+, screenshot $SHOT}"
