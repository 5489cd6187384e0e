#!/usr/bin/env bash
# ncu_crosscheck.sh - flop_kernels under Nsight Compute: the CUPTI FLOP counters of every
# calibration item, compared by calibrate.py with what the program expects
# (tests/gpu/README.md, "Calibration").
#
# Runs ncu four times, one group of items each (CUDA-core; mma.sync and the launch paths;
# wgmma; cuBLAS), so that a slow, hanging or failing group cannot cost the others their
# rows (ncu prints its results when the program ends), each under a share of --timeout. A
# metric ncu says it cannot find is dropped and that run repeated once; counters that
# cannot be read (no permission, a sandbox that does not load ncu's library) end the ncu
# runs and are recorded as the result. Then calibrate.py writes
# the JSON. Exit status: calibrate.py's (0 when the comparison was made or ncu could not
# read counters, 1 when an exact expectation failed), 2 on a usage error.
set -uo pipefail

usage() {
  cat <<'USAGE'
usage: tests/gpu/ncu_crosscheck.sh --program BIN --dir DIR [options]

  --program BIN   flop_kernels
  --dir DIR       where the logs go (ncu_*.csv, ncu_*.stdout, sass.txt, expected.txt)
  --json FILE     calibration.json to write (default DIR/calibration.json)
  --plain FILE    output of a run of BIN without ncu (timings, result checks)
  --rows FILE     results.py rows to append the summary to
  --ncu PATH      ncu (default: on PATH, in the CUDA toolkit, or under /opt/nvidia)
  --timeout S     seconds for all ncu runs together (default 150)
  --parts LIST    comma-separated, from core,mma,wgmma,cublas (default all four)
  --warmup N      passed to flop_kernels: 1 (default) profiles each item's warm-up too,
                  a second measurement of the same work; 0 leaves it out (faster)
  --print-metrics print the comma-separated metric list ncu is given, and exit (for other
                  ncu runs that should read the same counters)
  --print-ncu     print the ncu this script would run, and exit (1 when there is none)
USAGE
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROGRAM="" DIR="" JSON="" PLAIN="" ROWS="" NCU="" TIMEOUT=150 PARTS="core,mma,wgmma,cublas"
WARMUP=1
PRINT=""
while [ $# -gt 0 ]; do
  case $1 in
    --program | --dir | --json | --plain | --rows | --ncu | --timeout | --parts | --warmup)
      [ $# -ge 2 ] || { echo "ncu_crosscheck.sh: $1 needs a value" >&2; exit 2; }
      case $1 in
        --program) PROGRAM=$2 ;;
        --dir) DIR=$2 ;;
        --json) JSON=$2 ;;
        --plain) PLAIN=$2 ;;
        --rows) ROWS=$2 ;;
        --ncu) NCU=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --parts) PARTS=$2 ;;
        --warmup) WARMUP=$2 ;;
      esac
      shift
      ;;
    --print-metrics) PRINT=metrics ;;
    --print-ncu) PRINT=ncu ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "ncu_crosscheck.sh: unknown argument '$1'" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done
# The metrics: the CUDA-core FP instructions, the GH100 tensor leaves (measurement.md), the
# kernel's duration and its grid (which names the markers' items).
METRICS=""
for op in fadd fmul ffma dadd dmul dfma hadd hmul hfma; do
  METRICS+="smsp__sass_thread_inst_executed_op_${op}_pred_on.sum,"
done
for leaf in op_hgmma_src_fp16 op_hgmma_src_bf16_dst_fp32 op_hgmma_src_tf32_dst_fp32 \
  op_hmma_src_fp16_dst_fp16 op_hmma_src_fp16_dst_fp32 op_hmma_src_bf16_dst_fp32 \
  op_hmma_src_tf32_dst_fp32 src_fp8 src_fp64 op_igmma_src_int8 op_imma_src_int8; do
  METRICS+="sm__ops_path_tensor_${leaf}.sum,"
done
METRICS+="gpu__time_duration.sum,launch__grid_size"

find_tool() { # NAME: the tool on PATH, in the CUDA toolkit, or under /opt/nvidia
  local t
  if command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
    return 0
  fi
  for t in "${CUDA_HOME:-/usr/local/cuda}/bin/$1" /usr/local/cuda/bin/"$1" \
    /opt/nvidia/nsight-compute/*/"$1" /usr/local/cuda/nsight-compute*/"$1"; do
    [ -x "$t" ] && { echo "$t"; return 0; }
  done
  return 1
}
[ -n "$NCU" ] || NCU=$(find_tool ncu) || NCU=""
case $PRINT in
  metrics)
    echo "$METRICS"
    exit 0
    ;;
  ncu)
    [ -n "$NCU" ] && echo "$NCU"
    [ -n "$NCU" ]
    exit
    ;;
esac
if [ -z "$PROGRAM" ] || [ -z "$DIR" ] || ! [[ $TIMEOUT =~ ^[0-9]+$ ]]; then
  usage >&2
  exit 2
fi
mkdir -p "$DIR" || exit 2
JSON=${JSON:-$DIR/calibration.json}

# The expectations, from the program itself, without the GPU.
"$PROGRAM" --expect-only >"$DIR/expected.txt" 2>"$DIR/expected.stderr" ||
  echo "ncu_crosscheck.sh: $PROGRAM --expect-only failed: $(tail -n 1 "$DIR/expected.stderr")" >&2
# The compiled code, to check it is the one the expectations were derived from.
SASS_ARGS=()
if CUOBJDUMP=$(find_tool cuobjdump) && "$CUOBJDUMP" -sass "$PROGRAM" >"$DIR/sass.txt" 2>/dev/null
then
  SASS_ARGS=(--sass "$DIR/sass.txt")
fi

groups_of() {
  case $1 in
    core) echo "cuda_core" ;;
    mma) echo "mma_sync,graph,threads" ;;
    wgmma) echo "wgmma" ;;
    cublas) echo "cublas" ;;
    *) return 1 ;;
  esac
}

START=$SECONDS
STATUS_ARGS=()
LOG_ARGS=()
PROGRAM_ARGS=()
[ -n "$PLAIN" ] && [ -f "$PLAIN" ] && PROGRAM_ARGS+=(--program "$PLAIN")
IFS=, read -r -a PART_LIST <<<"$PARTS"
if [ -z "$NCU" ]; then
  STATUS_ARGS=(--ncu-status "not found: no ncu on PATH, in the CUDA toolkit or /opt/nvidia")
  echo "ncu_crosscheck.sh: ncu not found; writing the expectations only"
else
  echo "ncu_crosscheck.sh: $("$NCU" --version 2>/dev/null | tail -n 1)"
  for i in "${!PART_LIST[@]}"; do
    part=${PART_LIST[$i]}
    groups=$(groups_of "$part") || { echo "ncu_crosscheck.sh: no part '$part'" >&2; exit 2; }
    # this part's share: what is left, less 20 s for each part still to come
    later=$(( (${#PART_LIST[@]} - i - 1) * 20 ))
    lim=$((TIMEOUT - (SECONDS - START) - later))
    if [ "$lim" -lt 10 ]; then
      echo "== ncu $part: skipped, no time left"
      continue
    fi
    metrics=$METRICS
    for attempt in 1 2; do
      echo "== ncu $part ($groups), limit $lim s, attempt $attempt"
      rm -f "$DIR/ncu_$part.csv"
      timeout --kill-after=5 "$lim" "$NCU" --target-processes all --clock-control none \
        --metrics "$metrics" --csv --page raw --print-units base \
        --log-file "$DIR/ncu_$part.csv" "$PROGRAM" --only "$groups" --warmup "$WARMUP" \
        >"$DIR/ncu_$part.stdout" 2>"$DIR/ncu_$part.stderr"
      rc=$?
      echo "$rc" >"$DIR/ncu_$part.rc"
      echo "   exit $rc after $((SECONDS - START)) s in all"
      # a metric this ncu or GPU does not know (an error line naming it, whatever the
      # wording): drop it and run again, once, if any metric is left
      errors=$(grep -h '==ERROR==' "$DIR/ncu_$part.csv" "$DIR/ncu_$part.stderr" 2>/dev/null)
      missing="" n_missing=0 n_metrics=0
      for m in ${metrics//,/ }; do
        n_metrics=$((n_metrics + 1))
        if grep -qF -- "$m" <<<"$errors"; then
          missing+="$m "
          n_missing=$((n_missing + 1))
        fi
      done
      if [ "$attempt" = 1 ] && [ -n "$missing" ] && [ "$n_missing" -lt "$n_metrics" ]; then
        echo "   ncu does not know: $missing; again without them"
        # the refusal stays on record
        mv "$DIR/ncu_$part.csv" "$DIR/ncu_$part.refused.csv" 2>/dev/null &&
          LOG_ARGS+=(--ncu-log "$DIR/ncu_$part.refused.csv")
        for m in $missing; do
          metrics=$(tr ',' '\n' <<<"$metrics" | grep -vxF "$m" | paste -sd, -)
        done
        lim=$((TIMEOUT - (SECONDS - START) - later))
        [ "$lim" -ge 10 ] && continue
      fi
      break
    done
    # ncu's own output is in the log file; its errors may also be on stderr, and an ncu
    # without --log-file support would print the CSV among the program's lines
    LOG_ARGS+=(--ncu-log "$DIR/ncu_$part.csv" --ncu-log "$DIR/ncu_$part.stderr"
      --ncu-log "$DIR/ncu_$part.stdout")
    PROGRAM_ARGS+=(--program "$DIR/ncu_$part.stdout")
    if grep -qE 'ERR_NVGPUCTRPERM|LibraryNotLoaded' "$DIR/ncu_$part.csv" \
      "$DIR/ncu_$part.stderr" "$DIR/ncu_$part.stdout" 2>/dev/null; then
      echo "   counters unavailable; the other parts would fail the same way: not run"
      break
    fi
  done
fi

python3 "$HERE/calibrate.py" run ${PROGRAM_ARGS[@]+"${PROGRAM_ARGS[@]}"} \
  --program "$DIR/expected.txt" ${LOG_ARGS[@]+"${LOG_ARGS[@]}"} \
  ${STATUS_ARGS[@]+"${STATUS_ARGS[@]}"} ${SASS_ARGS[@]+"${SASS_ARGS[@]}"} --out "$JSON" \
  ${ROWS:+--rows "$ROWS"}
