#!/usr/bin/env bash
# Tunes CLBlast's GEMM kernels for one OpenCL device with CLBlast's own tuners (Debian package
# clblast-utils) and installs the results where libclssd applies them whenever it creates a
# context on that device: <cache dir>/clblast/<device key>/ (docs/tuning.md).
#
#   scripts/tune-clblast.sh [--device P:D] [--cache-dir DIR] [--quick] [--routine]
#                           [--timeout S] [--bench PATH]
#
#   --device P:D     OpenCL platform:device (default: CLSSD_DEVICE, else the first GPU, else 0:0)
#   --cache-dir DIR  libclssd's cache directory (default: CLSSD_CACHE_DIR, else
#                    $XDG_CACHE_HOME/clssd or ~/.cache/clssd, as the library resolves it)
#   --quick          a tiny search at 128x128x128: a few configurations per kernel, minutes on a
#                    CPU. It checks the whole pipeline; the parameters it finds are no tuning
#   --routine        also tune where CLBlast switches from its direct to its indirect GEMM
#                    (clblast_tuner_routine_xgemm: GEMMs of many sizes, slow)
#   --timeout S      stop a tuner after S seconds, keeping what the others found (default 120
#                    with --quick, else none). PoCL 3.1 sometimes deadlocks in a tuner.
#   --bench PATH     clssd-bench, which prints the device key (default: the newest
#                    build*/clssd-bench of this checkout, else clssd-bench on PATH)
#
# The tuners run in a temporary directory. Each result is then checked alone by a fresh
# process (clssd-bench --check-clblast, the library's own check), the fastest one per kernel
# that passes is kept, and the kept set replaces whatever the device's tuning directory held
# (best_time, which picks among results, only compares within one run).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
prog="tune-clblast.sh"

device="" quick=0 routine=0 limit="" bench="${CLSSD_BENCH:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="${2:?--device needs P:D}"; shift 2 ;;
    --device=*) device="${1#*=}"; shift ;;
    --cache-dir) export CLSSD_CACHE_DIR="${2:?--cache-dir needs a directory}"; shift 2 ;;
    --cache-dir=*) export CLSSD_CACHE_DIR="${1#*=}"; shift ;;
    --quick) quick=1; shift ;;
    --routine) routine=1; shift ;;
    --timeout) limit="${2:?--timeout needs seconds}"; shift 2 ;;
    --timeout=*) limit="${1#*=}"; shift ;;
    --bench) bench="${2:?--bench needs a path}"; shift 2 ;;
    --bench=*) bench="${1#*=}"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "$prog: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done

if [ -z "$bench" ]; then
  for b in "$repo"/build*/clssd-bench; do # the newest build
    if [ -x "$b" ] && { [ -z "$bench" ] || [ "$b" -nt "$bench" ]; }; then bench="$b"; fi
  done
  [ -n "$bench" ] || bench="$(command -v clssd-bench || true)"
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
  echo "$prog: no clssd-bench (build it, or --bench PATH)" >&2
  exit 2
fi
command -v clblast_tuner_xgemm >/dev/null ||
  { echo "$prog: no clblast_tuner_xgemm (Debian: apt-get install clblast-utils)" >&2; exit 2; }

listing="$("$bench" --list-devices)" || { echo "$prog: $bench --list-devices failed" >&2; exit 1; }
printf '%s\n' "$listing" | grep -q "CLBlast tuning:" ||
  { echo "$prog: $bench predates CLBlast tuning: rebuild it, or --bench PATH" >&2; exit 2; }
if [ -z "$device" ]; then
  if [ -n "${CLSSD_DEVICE:-}" ]; then
    case "$CLSSD_DEVICE" in
      *:*) device="$CLSSD_DEVICE" ;;
      *) device="${CLSSD_PLATFORM:-0}:$CLSSD_DEVICE" ;;
    esac
  else
    device="$(printf '%s\n' "$listing" | awk '/^[0-9]+:[0-9]+ .* GPU$/ { print $1; exit }')"
    [ -n "$device" ] || device="0:0"
  fi
fi
case "$device" in
  *:*) plat="${device%%:*}" dev="${device#*:}" ;;
  *) echo "$prog: --device wants P:D, not $device" >&2; exit 2 ;;
esac

# The device's line, then "      CLBlast tuning: DIR" (clssd-bench --list-devices).
dest="$(printf '%s\n' "$listing" | awk -v d="$device" '
  $1 == d { found = 1; next }
  found && /^ +CLBlast tuning: / { sub(/^ +CLBlast tuning: /, ""); print; exit }
  found { exit }')"
[ -n "$dest" ] || { echo "$prog: no device $device:" >&2; printf '%s\n' "$listing" >&2; exit 2; }
[ "$dest" != "(no cache directory)" ] ||
  { echo "$prog: libclssd has no cache directory here (CLSSD_CACHE_DIR=off?): use --cache-dir" >&2; exit 2; }
printf '%s\n' "$listing" | grep "^$device " || true
echo "tuning directory: $dest"

# tuner, then its arguments. --quick keeps a few configurations of each tuner variation: CLBlast
# 1.5's -fraction F explores 1/F of the configurations (xgemm: 578, 120800, 407 and 16566 for
# its four variations at 128^3, so 10000 leaves 12 and 1 of the two random searches; 128 is the
# smallest size every xgemm variation accepts). On PoCL 3.1 copy_fast crashes (or hangs) on
# one of its configurations; the other files are installed without it.
if [ "$quick" = 1 ]; then
  q="-m 128 -n 128 -k 128 -runs 1" q2="-m 128 -n 128 -runs 1"
  tuners=("xgemm $q -fraction 10000" "xgemm_direct $q -fraction 1000" "copy_fast $q2 -fraction 24"
          "copy_pad $q2 -fraction 16" "transpose_fast $q2 -fraction 16"
          "transpose_pad $q2 -fraction 8")
  [ -n "$limit" ] || limit=120
else
  tuners=(xgemm xgemm_direct copy_fast copy_pad transpose_fast transpose_pad)
fi
run_limited() { if [ -n "$limit" ] && [ "$limit" != 0 ]; then timeout "$limit" "$@"; else "$@"; fi; }
[ "$routine" = 0 ] || tuners+=(routine_xgemm)

work="$(mktemp -d "${TMPDIR:-/tmp}/clssd-tune-clblast.XXXXXX")"
keep_work=0
cleanup() { [ "$keep_work" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

t_all=$SECONDS
for spec in "${tuners[@]}"; do
  read -r -a words <<<"$spec"
  name="${words[0]}"
  args=("${words[@]:1}")
  t0=$SECONDS
  printf '%-16s' "$name"
  # A tuner can abort after writing its results (a variation that cannot run at these sizes):
  # what it wrote still counts.
  if (cd "$work" && run_limited "clblast_tuner_$name" -platform "$plat" -device "$dev" \
        -precision 32 ${args[@]+"${args[@]}"} >"$name.log" 2>&1); then
    st=ok
  else
    st=$?
    keep_work=1
    if [ "$st" = 124 ]; then st="stopped after $limit s"; else st="failed ($st)"; fi
  fi
  best="$(grep -a 'Found best result' "$work/$name.log" | sed 's/\x1b\[[0-9;]*m//g' | tr '\n' ' ' || true)"
  echo " $((SECONDS - t0)) s, $st${best:+; $best}"
done

shopt -s nullglob
results=("$work"/clblast_*_32.json)
[ ${#results[@]} -gt 0 ] || { echo "$prog: the tuners wrote no results (logs in $work)" >&2; keep_work=1; exit 1; }

# Each result is checked alone, by a fresh process whose context applies it from a scratch
# cache directory: CLBlast cannot take an override back, and a tuner's winner can still build
# or compute wrong through CLBlast's GEMM routine (CLBlast 1.5.3's GEMMK=1 winner on PoCL 3.1
# does). Per kernel the fastest result that passes is installed.
scratch="$work/check"
sdest="$(CLSSD_CACHE_DIR="$scratch" "$bench" --list-devices | awk -v d="$device" '
  $1 == d { found = 1; next }
  found && /^ +CLBlast tuning: / { sub(/^ +CLBlast tuning: /, ""); print; exit }
  found { exit }')"
[ -n "$sdest" ] || { echo "$prog: no scratch tuning directory" >&2; exit 1; }
for f in "${results[@]}"; do
  fam="$(sed -n 's/^ *"kernel_family": *"\([^"]*\)".*/\1/p' "$f" | head -n 1)"
  t="$(sed -n 's/^ *"best_time": *"\([^"]*\)".*/\1/p' "$f" | head -n 1)"
  printf '%s %s %s\n' "${fam%_[0-9]*}" "${t:-1e300}" "$f"
done | sort -k1,1 -k2,2g >"$work/candidates"
echo "checking each result alone (clssd-bench --check-clblast):"
chosen=() have=""
while read -r kern t f; do
  [ "$kern" != "$have" ] || continue
  rm -rf "$scratch"
  mkdir -p "$sdest"
  cp "$f" "$sdest/"
  printf '  %-14s %-34s %8s ms: ' "$kern" "$(basename "$f")" "$t"
  if CLSSD_CACHE_DIR="$scratch" run_limited "$bench" --device "$device" --check-clblast \
       >"$work/check.log" 2>&1 </dev/null; then
    if grep -q "checked: 1" "$work/check.log"; then
      echo "ok"
      chosen+=("$f")
      have="$kern"
    else
      echo "not applied: $(grep -a 'warning:' "$work/check.log" | head -n 1 | sed 's/.*skipped: //')"
    fi
  else
    echo "fails: $(grep -a 'error:' "$work/check.log" | head -n 1 | sed 's/.*fails its check: //; s/\. Renamed.*//')"
  fi
done <"$work/candidates"
[ ${#chosen[@]} -gt 0 ] || { echo "$prog: no result passed the check (logs in $work)" >&2; keep_work=1; exit 1; }

mkdir -p "$dest"
old=("$dest"/*.json "$dest"/*.json.rejected)
[ ${#old[@]} -eq 0 ] || rm -f "${old[@]}"
for f in "${chosen[@]}"; do
  base="$(basename "$f")"
  # libclssd skips names starting with '.', so a half-copied file is never read
  cp "$f" "$dest/.$base.tmp.$$" && mv -f "$dest/.$base.tmp.$$" "$dest/$base"
  echo "installed $dest/$base"
done
# The set together, as every context on the device will apply it.
if "$bench" --device "$device" --check-clblast >"$work/check.log" 2>&1 </dev/null; then
  echo "the installed set passes: $(grep -a 'applied and checked' "$work/check.log")"
else
  keep_work=1
  echo "$prog: the installed set together fails (the library renamed the culprits):" >&2
  grep -a 'error:' "$work/check.log" >&2 || true
fi
[ "$keep_work" = 0 ] || echo "some steps failed; their logs are in $work"
echo "done in $((SECONDS - t_all)) s: libclssd applies these at every context it creates on $device"
