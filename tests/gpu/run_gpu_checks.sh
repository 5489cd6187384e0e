#!/usr/bin/env bash
# run_gpu_checks.sh - the checks of libflopmeter.so that need a GPU, in one call
# (tests/gpu/README.md says what each one establishes).
#
# Builds the project and the CUDA test programs, runs every check under its own time limit,
# and writes $OUT/gpu_checks.json (OUT defaults to ./gpu-check-out), the log, each step's
# output, the launch counts, the counter comparisons, and the small traces. A failing check
# never stops the next one.
# Exit status: 0 when no check failed, 1 when one did, 2 when there is no GPU to check on or
# a usage error. The whole run is meant to fit in 8 minutes on an H100: every step's limit is
# cut to what is left of --budget, and a step with no time left is recorded as skipped.
set -uo pipefail # no -e: a failed step is a result to record, and the next step still runs

usage() {
  cat <<'EOF'
usage: OUT=DIR tests/gpu/run_gpu_checks.sh [options]     (OUT defaults to ./gpu-check-out)
       (CHECKS_COMMIT=SHA names the commit when the tree has no .git)

  --build-dir DIR   where to build (default: build-gpu-checks/ in the repository)
  --prebuilt DIR    binaries made on another machine with --prepare-prebuilt, used when
                    building here fails (or instead, with --no-build); the libraries of
                    DIR/deps/ that this machine lacks are put on the measured programs'
                    library path
  --no-build        do not build; use --prebuilt
  --prepare-prebuilt DIR
                    on the build machine, no GPU needed: build, compile the test program,
                    and put the binaries and their non-system libraries into DIR (name it
                    build-*/ so that git ignores it and it can be carried), then stop
  --skip-torch      leave out the PyTorch checks
  --skip-calibration
                    leave out the calibration (flop_kernels under ncu); the hook's own
                    counters on flop_kernels are still read, compared with the analytic
                    counts only
  --budget SECONDS  time for everything (default 480)
  --dry-run         run without a GPU, to try the script itself: building, compiling and the
                    result files; every check that needs the GPU then fails
  -h, --help        this text
EOF
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$ROOT/build-gpu-checks
PREBUILT=""
PREPARE=""
NO_BUILD=0
SKIP_TORCH=0
SKIP_CAL=0
DRY_RUN=0
BUDGET=480

bad_usage() {
  echo "run_gpu_checks.sh: $* (--help lists the options)" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --build-dir | --prebuilt | --prepare-prebuilt | --budget)
      [ $# -ge 2 ] || bad_usage "$1 needs a value"
      case $1 in
        --build-dir) BUILD_DIR=$2 ;;
        --prebuilt) PREBUILT=$2 ;;
        --prepare-prebuilt) PREPARE=$2 ;;
        --budget)
          if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 60 ]; then
            bad_usage "--budget needs seconds >= 60"
          fi
          BUDGET=$2
          ;;
      esac
      shift
      ;;
    --no-build) NO_BUILD=1 ;;
    --skip-torch) SKIP_TORCH=1 ;;
    --skip-calibration) SKIP_CAL=1 ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) bad_usage "unknown argument '$1'" ;;
  esac
  shift
done
[ "$NO_BUILD" = 0 ] || [ -n "$PREBUILT" ] || bad_usage "--no-build needs --prebuilt DIR"
[ -z "$PREPARE" ] || [ "$NO_BUILD" = 0 ] || bad_usage "--prepare-prebuilt builds: no --no-build"
if ! command -v python3 >/dev/null 2>&1; then
  echo "run_gpu_checks.sh: python3 not found: it compares the traces and writes the results" >&2
  exit 2
fi

OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT" || bad_usage "cannot create OUT=$OUT"
OUT=$(cd "$OUT" && pwd)
# the files of an earlier run in the same folder would mix with this run's
rm -rf "$OUT/runs" "$OUT/traces" "$OUT/counts"
rm -f "$OUT/rows.jsonl" "$OUT/env.tsv" "$OUT/gpu_checks.json" "$OUT/log.txt"
rm -rf "$OUT/calibration" "$OUT/calibration.json"
rm -f "$OUT/range_probe.json"
rm -f "$OUT/hook_counters.json" "$OUT/torch_counters.json" "$OUT"/torch_*.report.json
mkdir -p "$OUT/runs" "$OUT/traces" "$OUT/counts"
ROWS=$OUT/rows.jsonl
ENV_TSV=$OUT/env.tsv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/flopmeter-gpu-checks.XXXXXX")
FINISHED=0
STEP_PID=""
BG_PIDS=() # steps running in the background (the nvcc compilations)
# A script that stops early (a bug in it, a signal) still leaves its JSON: the rows so far
# and one failed row saying so.
# shellcheck disable=SC2317 # run by the trap
on_exit() {
  local rc=$?
  [ -z "$STEP_PID" ] || kill -TERM "$STEP_PID" 2>/dev/null
  [ ${#BG_PIDS[@]} = 0 ] || kill -TERM "${BG_PIDS[@]}" 2>/dev/null
  if [ "$FINISHED" = 0 ]; then
    FINISHED=1
    record script fail "the script runs to its end" "stopped early, status $rc" "see log.txt"
    python3 "$HERE/results.py" finish --rows "$ROWS" --env "$ENV_TSV" \
      --out "$OUT/gpu_checks.json" >/dev/null
  fi
  rm -rf "$WORK"
}
trap on_exit EXIT

# Everything goes to the log as well, so that a call cut short still brings the log back.
exec 3>&1 4>&2
exec > >(tee "$OUT/log.txt") 2>&1
TEE_PID=$!
START=$SECONDS

# ---- functions ----------------------------------------------------------------------------

envset() { # key value: one fact about the machine for the JSON's "environment"
  printf '%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\t\n' '  ')" >>"$ENV_TSV"
}

record() { # name status expected measured [detail]: one row of the results
  # --opt=value: a value may start with a dash
  python3 "$HERE/results.py" add --rows="$ROWS" --name="$1" --status="$2" --expected="$3" \
    --measured="$4" --detail="${5:-}"
  printf '%-7s %s: expected %s, measured %s\n' "${2^^}" "$1" "$3" "$4"
}

limit() { # the limit for a step that wants $1 seconds: no more than the budget has left,
  # less a margin for writing the results
  local left=$((BUDGET - (SECONDS - START) - 15))
  if [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}

# run_step NAME SECONDS COMMAND...: runs COMMAND with its output in $OUT/runs/NAME/ and
# returns its exit status: 124 or 137 when its limit stopped it, 125 when no time was left.
run_step() {
  local name=$1 want=$2 dir lim t0 t1 rc
  shift 2
  dir=$OUT/runs/$name
  mkdir -p "$dir"
  printf '%q ' "$@" >"$dir/command"
  lim=$(limit "$want")
  if [ "$lim" -lt 5 ]; then
    echo "skipped: time budget spent" >"$dir/rc"
    echo "== $name: skipped, the time budget is spent"
    return 125
  fi
  echo "== $name (limit ${lim} s)"
  t0=$(date +%s%N)
  # waited for in the background, so that a signal to this script reaches on_exit, which
  # stops the step too, at once
  timeout --kill-after=5 "$lim" "$@" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
  STEP_PID=$!
  wait "$STEP_PID"
  rc=$?
  STEP_PID=""
  t1=$(date +%s%N)
  echo "$rc" >"$dir/rc"
  date +%s.%N >"$dir/ended" # when a step stopped by its limit was stopped
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' >"$dir/seconds"
  echo "   $name: exit $rc after $(cat "$dir/seconds") s"
  tail -n 4 "$dir/stderr" | sed 's/^/   | /'
  return "$rc"
}

step_tail() { # the last lines of a step's stderr, on one line, for a result's detail
  tail -n "${2:-3}" "$OUT/runs/$1/stderr" 2>/dev/null | tr '\n' ' ' | cut -c1-300
}

finish() { # [status]: writes the JSON, prints the table (last), ends the script
  local status
  FINISHED=1
  envset elapsed_s $((SECONDS - START))
  copy_traces
  echo
  python3 "$HERE/results.py" finish --rows "$ROWS" --env "$ENV_TSV" --out "$OUT/gpu_checks.json"
  status=$?
  [ "$status" -le 1 ] || status=1 # results.py itself failed: no verdict is a failure
  exec 1>&3 2>&4
  wait "$TEE_PID" 2>/dev/null
  exit "${1:-$status}"
}

# Small traces come back with the results; large ones are only listed.
copy_traces() {
  local f rel
  [ -d "$WORK/traces" ] || return 0
  while IFS= read -r f; do
    rel=${f#"$WORK/traces/"}
    if [ "$(stat -c %s "$f")" -le 4194304 ]; then
      mkdir -p "$OUT/traces/$(dirname "$rel")"
      cp "$f" "$OUT/traces/$rel"
    else
      echo "$rel $(stat -c %s "$f") bytes: not copied" >>"$OUT/traces/NOT_COPIED.txt"
    fi
  done < <(find "$WORK/traces" -name '*.fmtrace' | sort)
}

# ---- the machine --------------------------------------------------------------------------

echo "flopmeter GPU checks, $(date -u +%Y-%m-%dT%H:%M:%SZ), results in $OUT"
envset date_utc "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
envset kernel "$(uname -r)"
envset budget_s "$BUDGET"
envset dry_run "$DRY_RUN"
if git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
  envset commit "$(git -C "$ROOT" rev-parse HEAD)"
  envset tree_changes "$(git -C "$ROOT" status --porcelain | wc -l) paths differ from the commit"
else
  # a copy of the tree without .git: the caller can say which commit it is
  envset commit "${CHECKS_COMMIT:-unknown (no git metadata; set CHECKS_COMMIT)}"
fi

GPU_NAME=""
if [ -n "$PREPARE" ]; then
  record gpu_present skipped "an NVIDIA GPU" "preparing binaries only"
elif [ "$DRY_RUN" = 1 ]; then
  record gpu_present skipped "an NVIDIA GPU" "dry run"
elif ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "run_gpu_checks.sh: nvidia-smi not found: these checks need a machine with an NVIDIA" \
    "GPU and its driver (--dry-run tries the rest of the script without one)" >&2
  record gpu_present fail "an NVIDIA GPU" "no nvidia-smi"
  finish 2
else
  smi=$(timeout 60 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] || [ -z "$smi" ]; then
    echo "run_gpu_checks.sh: nvidia-smi found no usable GPU (exit $rc): $smi" >&2
    record gpu_present fail "an NVIDIA GPU" "nvidia-smi exit $rc" "$smi"
    finish 2
  fi
  GPU_NAME=$(head -n 1 <<<"$smi" | sed 's/, [^,]*$//')
  envset gpu_name "$GPU_NAME"
  envset driver_version "$(head -n 1 <<<"$smi" | sed 's/.*, //')"
  envset gpu_count "$(grep -c . <<<"$smi")"
  timeout 60 nvidia-smi >"$OUT/runs/nvidia-smi.txt" 2>&1
  envset driver_cuda_version "$(grep -o 'CUDA Version: *[0-9.]*' "$OUT/runs/nvidia-smi.txt" |
    grep -o '[0-9.]*$')"
  record gpu_present pass "an NVIDIA GPU" "$GPU_NAME, driver $(head -n 1 <<<"$smi" | sed 's/.*, //')"
fi

# The CUDA toolkit: nvcc for the test program, its libcupti for the hook.
CUDA_HOME_FOUND=""
if [ -n "${CUDA_HOME:-}" ] && [ -x "${CUDA_HOME}/bin/nvcc" ]; then
  CUDA_HOME_FOUND=$CUDA_HOME
elif command -v nvcc >/dev/null 2>&1; then
  CUDA_HOME_FOUND=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
elif [ -x /usr/local/cuda/bin/nvcc ]; then
  CUDA_HOME_FOUND=/usr/local/cuda
fi
NVCC=""
[ -n "$CUDA_HOME_FOUND" ] && NVCC=$CUDA_HOME_FOUND/bin/nvcc
envset cuda_home "${CUDA_HOME_FOUND:-not found}"
envset nvcc_version "$([ -n "$NVCC" ] && "$NVCC" --version | grep -o 'release [0-9.]*, V[0-9.]*')"

TOOLKIT_CUPTI=""
for d in "$CUDA_HOME_FOUND/lib64" "$CUDA_HOME_FOUND/lib" "$CUDA_HOME_FOUND/extras/CUPTI/lib64" \
  "$CUDA_HOME_FOUND"/targets/*/lib; do
  [ -n "$CUDA_HOME_FOUND" ] || break
  for f in "$d"/libcupti.so.[0-9]*; do
    if [ -e "$f" ]; then
      TOOLKIT_CUPTI=$f
      break 2
    fi
  done
done
# The hook finds libcupti by name unless told where (FLOPMETER_CUPTI); it is told only when
# the loader would not find the toolkit's version by name, so that the usual search is what
# gets tested where it can work.
CUPTI_SONAME=$(sed -E 's/^(libcupti\.so\.[0-9]+).*/\1/' <<<"${TOOLKIT_CUPTI##*/}")
loader_finds() { # SONAME: 0 when dlopen would find it by name
  local d
  ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$1 " && return 0
  local path=${LD_LIBRARY_PATH:-}
  for d in ${path//:/ }; do
    [ -e "$d/$1" ] && return 0
  done
  return 1
}
CUPTI_ENV=()
if loader_finds "${CUPTI_SONAME:-libcupti.so.13}"; then
  envset cupti_for_hook "${CUPTI_SONAME:-libcupti.so.13} found by the loader"
elif [ -n "$TOOLKIT_CUPTI" ]; then
  CUPTI_ENV=("FLOPMETER_CUPTI=$TOOLKIT_CUPTI")
  envset cupti_for_hook "FLOPMETER_CUPTI=$TOOLKIT_CUPTI"
else
  envset cupti_for_hook "not found"
fi

# ---- the CUDA test programs, compiled while the project builds ---------------------------

# nvcc runs in the background during the CMake build (the machine has cores to spare, and
# the time saved is the scarce machine's): each program's compilation is one function whose
# status says whether its binary is there; the results are recorded after the build.
GPU_BIN=$BUILD_DIR/gpu-tests
NVFLAGS=(-O2 -std=c++17 --threads 0 -gencode "arch=compute_90,code=sm_90"
  -gencode "arch=compute_90,code=compute_90")
# known_launches: the CUDA program with known launch counts
compile_known_launches() {
  run_step compile_ptds 180 "$NVCC" "${NVFLAGS[@]}" --default-stream per-thread \
    -c "$HERE/known_launches_ptds.cu" -o "$GPU_BIN/known_launches_ptds.o" &&
    run_step compile_known_launches 180 "$NVCC" "${NVFLAGS[@]}" "$HERE/known_launches.cu" \
      "$GPU_BIN/known_launches_ptds.o" -o "$GPU_BIN/known_launches" -ldl -lpthread
}
# The range profiler probe: CUPTI's Range Profiler and profiler host API called directly, as
# the hook's glue calls them; linked with the toolkit's libcupti (run path to its folder,
# headers from the toolkit's include/ or extras/CUPTI/include/).
CUPTI_LIB_DIR=""
[ -n "$TOOLKIT_CUPTI" ] && CUPTI_LIB_DIR=$(dirname "$TOOLKIT_CUPTI")
RP_INC=()
[ -n "$CUDA_HOME_FOUND" ] && [ -d "$CUDA_HOME_FOUND/extras/CUPTI/include" ] &&
  RP_INC=(-I"$CUDA_HOME_FOUND/extras/CUPTI/include")
compile_range_probe() {
  [ -n "$CUPTI_LIB_DIR" ] &&
    run_step compile_range_probe 120 "$NVCC" "${NVFLAGS[@]}" ${RP_INC[@]+"${RP_INC[@]}"} \
      "$HERE/range_profiler_probe.cu" -o "$GPU_BIN/range_profiler_probe" -L"$CUPTI_LIB_DIR" \
      -Xlinker "-rpath,$CUPTI_LIB_DIR" -lcupti -lpthread
}
# The calibration program (tensor-core kernels need sm_90a; cuBLAS and cublasLt from the
# toolkit, found through its library folder if the loader does not know it).
FK_RPATH=()
for d in "$CUDA_HOME_FOUND/lib64" "$CUDA_HOME_FOUND/lib"; do
  [ -n "$CUDA_HOME_FOUND" ] && [ -d "$d" ] && FK_RPATH+=(-Xlinker "-rpath,$d")
done
compile_flop_kernels() {
  run_step compile_flop_kernels 240 "$NVCC" -O2 -std=c++17 --threads 0 \
    -gencode "arch=compute_90a,code=sm_90a" -I"$HERE" "$HERE/flop_kernels.cu" \
    "$HERE/flop_kernels_tc.cu" "$HERE/flop_kernels_cublas.cu" -o "$GPU_BIN/flop_kernels" \
    ${FK_RPATH[@]+"${FK_RPATH[@]}"} -lcublasLt -lcublas -lpthread
}
declare -A COMPILE_JOB=()
if [ -n "$NVCC" ] && mkdir -p "$GPU_BIN"; then
  # each in a subshell: its own step bookkeeping, and no copy of the EXIT trap
  compile_known_launches &
  COMPILE_JOB[known_launches]=$!
  compile_range_probe &
  COMPILE_JOB[range_probe]=$!
  compile_flop_kernels &
  COMPILE_JOB[flop_kernels]=$!
  BG_PIDS+=("${COMPILE_JOB[@]}")
fi
compiled() { # PROGRAM: waits for its compilation; 0 when the binary was made
  [ -n "${COMPILE_JOB[$1]:-}" ] && wait "${COMPILE_JOB[$1]}"
}

# ---- build ----------------------------------------------------------------------------------

BIN_DIR=""
build_project() {
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  run_step build_configure 150 cmake -S "$ROOT" -B "$BUILD_DIR" ${gen[@]+"${gen[@]}"} \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOPMETER_BUILD_TESTS=OFF \
    -DFLOPMETER_BUILD_BENCHMARKS=OFF \
    ${CUDA_HOME_FOUND:+"-DCUDAToolkit_ROOT=$CUDA_HOME_FOUND"} || return 1
  run_step build_compile 300 cmake --build "$BUILD_DIR" -j "$(nproc)" || return 1
}

has_binaries() { [ -f "$1/cupti_hook/libflopmeter.so" ] && [ -x "$1/postprocessor/flopmeter" ]; }

if [ "$NO_BUILD" = 1 ]; then
  record build skipped "hook and flopmeter built here" "--no-build"
elif build_project && has_binaries "$BUILD_DIR"; then
  record build pass "hook and flopmeter built here" \
    "built in $(($(cut -d. -f1 "$OUT/runs/build_configure/seconds") + \
    $(cut -d. -f1 "$OUT/runs/build_compile/seconds"))) s"
  BIN_DIR=$BUILD_DIR
else
  why="$(step_tail build_configure 2) $(step_tail build_compile 4)"
  if grep -q "building without the hook" "$OUT/runs/build_configure/stdout" 2>/dev/null; then
    why="cmake found no CUDA toolkit with CUPTI: libflopmeter.so was not built"
  fi
  record build fail "hook and flopmeter built here" "failed" "$why"
fi
if [ -z "$BIN_DIR" ] && [ -n "$PREBUILT" ]; then
  if has_binaries "$PREBUILT"; then
    BIN_DIR=$(cd "$PREBUILT" && pwd)
    record build.prebuilt info "a build made elsewhere" "using $PREBUILT"
  else
    record build.prebuilt fail "libflopmeter.so and flopmeter in $PREBUILT" "missing"
  fi
fi
# Links into $WORK/deps those libraries of DIR that this machine's loader does not find
# (libunwind, say), and only those: a carried copy of a library the machine has, on the
# library path of a measured program, could replace the one that program expects.
# 0 when it linked any.
link_missing_deps() {
  local lib pass linked=1
  mkdir -p "$WORK/deps"
  for pass in 1 2 3; do # a linked library may need another one (liblzma for libunwind)
    for lib in $(LD_LIBRARY_PATH=$WORK/deps ldd "$HOOK" "$FM" 2>/dev/null |
      awk '/not found/ { print $1 }' | sort -u); do
      if [ -e "$1/$lib" ] && [ ! -e "$WORK/deps/$lib" ]; then
        ln -s "$1/$lib" "$WORK/deps/$lib"
        echo "   using the carried $lib (pass $pass)"
        linked=0
      fi
    done
  done
  return "$linked"
}

HOOK=""
FM=""
LIBPATH_ENV=()
if [ -n "$BIN_DIR" ]; then
  HOOK=$BIN_DIR/cupti_hook/libflopmeter.so
  FM=$BIN_DIR/postprocessor/flopmeter
  if [ -d "$BIN_DIR/deps" ] && link_missing_deps "$BIN_DIR/deps"; then
    LIBPATH_ENV=("LD_LIBRARY_PATH=$WORK/deps${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  fi
  # a library missing here makes the preload fail with one line from the loader, and the
  # program then runs unmeasured: better said once, plainly
  env ${LIBPATH_ENV[@]+"${LIBPATH_ENV[@]}"} ldd "$HOOK" "$FM" >"$OUT/runs/ldd.txt" 2>&1
  missing=$(grep 'not found' "$OUT/runs/ldd.txt" | awk '{print $1}' | sort -u | tr '\n' ' ')
  record hook_libraries "$([ -z "$missing" ] && echo pass || echo fail)" "every library found" \
    "${missing:-every library found}"
fi

# The comparisons themselves, on synthetic traces: a checker broken on this machine's Python
# would otherwise pass or fail the checks below for the wrong reason.
if [ -n "$FM" ]; then
  # the launch counts; the counters (hand-made dumps and ncu CSV, synth traces); the GPT runs
  # (hand-made reports, a synth trace's report)
  for pair in checker_self_test:check_trace_counts.py \
    counters_checker_self_test:check_hook_counters.py gpt_checker_self_test:check_gpt_runs.py; do
    name=${pair%%:*}
    run_step "$name" 60 python3 "$HERE/${pair#*:}" self-test --flopmeter "$FM"
    rc=$?
    record "$name" "$([ "$rc" = 0 ] && echo pass || echo fail)" "exit 0" "exit $rc" \
      "$(tail -n 2 "$OUT/runs/$name/stdout" 2>/dev/null | tr '\n' ' ')"
  done
fi

# ---- the CUDA test programs: the compilations' results -------------------------------------

use_prebuilt() { # VAR STEP NAME: VAR becomes the binary NAME from --prebuilt, when it has one
  local var=$1 step=$2 name=$3
  if [ -n "$PREBUILT" ] && [ -x "$PREBUILT/gpu-tests/$name" ]; then
    printf -v "$var" '%s' "$(cd "$PREBUILT/gpu-tests" && pwd)/$name"
    record "$step.prebuilt" info "a build made elsewhere" "using ${!var}"
  fi
}

# compile_result VAR JOB BINARY DESCRIPTION STEP...: VAR becomes the binary JOB compiled, or,
# when it failed, the one --prebuilt brings (empty without); the STEPs' errors in the detail
compile_result() {
  local var=$1 job=$2 bin=$3 what=$4 why tails="" st
  shift 4
  printf -v "$var" '%s' ""
  if compiled "$job"; then
    printf -v "$var" '%s' "$GPU_BIN/$bin"
    record "compile_$job" pass "$what" "built"
    return
  fi
  if [ -z "$NVCC" ]; then
    why="no nvcc"
  elif [ "$job" = range_probe ] && [ -z "$CUPTI_LIB_DIR" ]; then
    why="no libcupti in the toolkit"
  else
    why="nvcc failed"
  fi
  for st in "$@"; do tails+="$(step_tail "$st" 3) "; done
  record "compile_$job" fail "$what" "$why" "$tails"
  use_prebuilt "$var" "compile_$job" "$bin"
}
compile_result KL known_launches known_launches "known_launches built (sm_90 + PTX)" \
  compile_ptds compile_known_launches
compile_result RP range_probe range_profiler_probe "range_profiler_probe built (sm_90 + PTX)" \
  compile_range_probe
compile_result FK flop_kernels flop_kernels "flop_kernels built (sm_90a)" compile_flop_kernels

# ---- binaries for a machine that cannot build -------------------------------------------

# Only what the checks run, and the libraries they need beyond the C library: small enough
# to carry to the GPU machine.
prepare_prebuilt() {
  local dir=$1 lib
  if [ -z "$HOOK" ] || [ -z "$KL" ] || [ "$BIN_DIR" != "$BUILD_DIR" ]; then
    record prepare_prebuilt fail "binaries in $dir" "the build or the compilation failed"
    return
  fi
  # replaces an earlier one, and nothing else
  if [ -e "$dir" ] && [ ! -f "$dir/PREBUILT.txt" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    record prepare_prebuilt fail "binaries in $dir" "$dir exists and was not made here"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir/cupti_hook" "$dir/postprocessor" "$dir/gpu-tests" "$dir/deps"
  {
    echo "made by tests/gpu/run_gpu_checks.sh --prepare-prebuilt, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
    ldd --version 2>&1 | head -n 1
  } >"$dir/PREBUILT.txt"
  cp -L "$HOOK" "$dir/cupti_hook/libflopmeter.so"
  cp -L "$FM" "$dir/postprocessor/flopmeter"
  cp -L "$KL" "$dir/gpu-tests/known_launches"
  # flop_kernels needs cuBLAS, which is far too large to carry: the GPU machine's toolkit
  # provides it
  [ -n "$FK" ] && cp -L "$FK" "$dir/gpu-tests/flop_kernels"
  # the probe needs libcupti, which the GPU machine's toolkit provides (as for the hook)
  [ -n "$RP" ] && cp -L "$RP" "$dir/gpu-tests/range_profiler_probe"
  for lib in $(ldd "$HOOK" "$FM" "$KL" | awk '$3 ~ /^\// { print $3 }' | sort -u); do
    case ${lib##*/} in
      libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux*) ;;
      *) cp -L "$lib" "$dir/deps/" ;;
    esac
  done
  record prepare_prebuilt pass "binaries in $dir" "$(du -sh "$dir" | cut -f1)" \
    "deps: $(find "$dir/deps" -type f -printf '%f ')$([ -n "$FK" ] ||
      echo "; no flop_kernels (it did not compile)")$([ -n "$RP" ] ||
      echo "; no range_profiler_probe (it did not compile)")"
}

if [ -n "$PREPARE" ]; then
  prepare_prebuilt "$PREPARE"
  finish
fi

# ---- checks ---------------------------------------------------------------------------------

# checker SCRIPT PREFIX MODE OPTIONS...: one of the comparison scripts, which records its own
# rows, named PREFIX.*; cut by the budget it is recorded as skipped, and its crashing is a
# failure of its own.
checker() {
  local script=$1 prefix=$2 mode=$3 rc
  shift 3
  run_step "check_$prefix" 120 python3 "$HERE/$script" "$mode" --prefix "$prefix" \
    --rows "$ROWS" "$@"
  rc=$?
  cat "$OUT/runs/check_$prefix/stdout" 2>/dev/null
  if [ "$rc" = 125 ]; then
    record "$prefix.compare" skipped "the comparison" "time budget spent"
  elif [ "$rc" -gt 1 ]; then
    record "$prefix.checker" fail "$script exit 0 or 1" "exit $rc" \
      "$(step_tail "check_$prefix" 3)"
  fi
}

# trace_checker PREFIX MODE OPTIONS...: check_trace_counts.py, which also checks the device
# record against the GPU's name
trace_checker() {
  local prefix=$1 mode=$2
  shift 2
  checker check_trace_counts.py "$prefix" "$mode" --flopmeter "$FM" \
    ${GPU_NAME:+--device-name "$GPU_NAME"} "$@"
}

# hooked_known PREFIX RUN CHECKER-OPTIONS... -- ENV...: known_launches under the hook, its
# trace compared with what it printed and with the run without the hook.
hooked_known() {
  local prefix=$1 run=$2 rc opts=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    opts+=("$1")
    shift
  done
  shift
  run_step "$run" 90 env "$@" FLOPMETER_OUTPUT_DIR="$WORK/traces" FLOPMETER_RUN_ID="$run" \
    ${CUPTI_ENV[@]+"${CUPTI_ENV[@]}"} ${LIBPATH_ENV[@]+"${LIBPATH_ENV[@]}"} "$KL"
  rc=$?
  if [ "$rc" = 125 ]; then
    record "$prefix" skipped "a run under the hook" "time budget spent"
    return
  fi
  trace_checker "$prefix" known --traces "$WORK/traces/$run" --stdout "$OUT/runs/$run/stdout" \
    --baseline-stdout "$OUT/runs/known_baseline/stdout" --rc "$rc" --baseline-rc "$BASE_RC" \
    --summary-out "$OUT/counts/$run.json" ${opts[@]+"${opts[@]}"}
}

seconds_of() { cat "$OUT/runs/$1/seconds" 2>/dev/null || echo "?"; }

BASE_RC=""
if [ -z "$KL" ]; then
  record known skipped "known_launches runs" "no known_launches binary"
else
  run_step known_baseline 60 "$KL"
  BASE_RC=$?
  n=$(grep -c '^CHECKSUM ' "$OUT/runs/known_baseline/stdout" 2>/dev/null)
  ok=$([ "$BASE_RC" = 0 ] && grep -q '^EXPECTED ' "$OUT/runs/known_baseline/stdout" &&
    echo pass || echo fail)
  record known.baseline "$ok" "exit 0 and expected counts, without the hook" \
    "exit $BASE_RC, ${n:-0} checksums" "$(step_tail known_baseline 2)"
  envset known_launches_device "$(grep -o 'known_launches: .*, runtime [0-9]*, driver [0-9]*' \
    "$OUT/runs/known_baseline/stderr" | head -n 1)"
  if [ -z "$HOOK" ]; then
    record known.hook skipped "runs under the hook" "no libflopmeter.so"
  else
    # The launch counts with the counters off (FLOPMETER_PROFILE=off), as before the hook
    # read them: a measured launch waits for its kernel and may be replayed, which is not
    # what these runs are about; the counters have runs of their own (hook_counters_exact,
    # torch_sampled, torch_exact).
    # the signature counts depend on argument hashing, the launch counts must not
    hooked_known known.hook known_hook --per-kernel -- LD_PRELOAD="$HOOK" FLOPMETER_PROFILE=off
    hooked_known known.args0 known_args0 --args-off -- LD_PRELOAD="$HOOK" FLOPMETER_ARGS=0 \
      FLOPMETER_PROFILE=off
    # loaded by the driver alone, as CUDA_INJECTION64_PATH names it (no preload)
    hooked_known known.inject known_inject -- CUDA_INJECTION64_PATH="$HOOK" \
      FLOPMETER_PROFILE=off
    record known.seconds info "without hook $(seconds_of known_baseline) s" \
      "with hook $(seconds_of known_hook) s" "wall time of the whole program, CUDA start included"
    if compgen -G "$WORK/traces/known_hook/*.fmtrace" >/dev/null; then
      run_step report_known 60 "$FM" report --json "$WORK/traces/known_hook"
      rc=$?
      if [ "$rc" = 0 ] && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
        "$OUT/runs/report_known/stdout" 2>/dev/null; then
        record report.known_hook pass "exit 0 and a JSON report" "exit 0, JSON"
      else
        record report.known_hook fail "exit 0 and a JSON report" "exit $rc" \
          "$(step_tail report_known 2)"
      fi
    fi
  fi
fi

# The range profiler probe (no hook): per-launch measurement with the glue's call sequence,
# its cost, CUDA graphs, a second host thread, a multi-pass group under kernel replay. One row
# per finding; range_probe.a.check passes when a measured FFMA count equals the analytic one.
# Its own watchdog ends it a few seconds before the step's limit, so its last line says where.
if [ -z "$RP" ]; then
  record range_probe skipped "the range profiler probe runs" "no range_profiler_probe binary"
else
  rp_lim=$(limit 60)
  if [ "$rp_lim" -lt 20 ]; then
    record range_probe skipped "the range profiler probe runs" "time budget spent"
  else
    RP_ENV=()
    [ -n "$CUPTI_LIB_DIR" ] &&
      RP_ENV=("LD_LIBRARY_PATH=$CUPTI_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    run_step range_probe "$rp_lim" env ${RP_ENV[@]+"${RP_ENV[@]}"} "$RP" \
      --deadline $((rp_lim - 8))
    rc=$?
    python3 "$HERE/range_probe_rows.py" rows --stdout "$OUT/runs/range_probe/stdout" \
      --stderr "$OUT/runs/range_probe/stderr" --rc "$rc" --rows "$ROWS" \
      --json "$OUT/range_probe.json"
    prc=$?
    [ "$prc" = 0 ] || record range_probe.rows fail "range_probe_rows.py exit 0" "exit $prc"
  fi
fi

# Calibration: kernels and GEMMs of exactly known work, their CUPTI FLOP counters read by
# ncu and compared with the expectations (calibrate.py writes $OUT/calibration.json).
if [ "$SKIP_CAL" = 1 ]; then
  record calibration skipped "the calibration" "--skip-calibration"
elif [ -z "$FK" ]; then
  record calibration skipped "the calibration" "no flop_kernels binary"
else
  mkdir -p "$OUT/calibration"
  # first without a profiler: every item runs, the wgmma results are right, and the times
  run_step calibration_plain 60 "$FK"
  rc=$?
  if [ "$rc" = 125 ]; then
    record calibration.program skipped "every item runs" "time budget spent"
  else
    n=$(grep -c '^FLOPCAL ' "$OUT/runs/calibration_plain/stdout" 2>/dev/null)
    record calibration.program "$([ "$rc" = 0 ] && echo pass || echo fail)" \
      "every item runs, exit 0" "exit $rc, ${n:-0} items" "$(step_tail calibration_plain 2)"
  fi
  # then under ncu, four runs sharing what is left of 150 s
  cal_lim=$(limit 150)
  if [ "$cal_lim" -lt 45 ]; then
    record calibration.ncu skipped "ncu reads the counters" "time budget spent"
  else
    run_step calibration_ncu "$cal_lim" "$HERE/ncu_crosscheck.sh" --program "$FK" \
      --dir "$OUT/calibration" --json "$OUT/calibration.json" \
      --plain "$OUT/runs/calibration_plain/stdout" --rows "$ROWS" --timeout $((cal_lim - 25))
    rc=$?
    cat "$OUT/runs/calibration_ncu/stdout"
    if [ "$rc" -gt 1 ] || [ ! -f "$OUT/calibration.json" ]; then
      record calibration.calibrate fail "calibration.json written" "exit $rc" \
        "$(step_tail calibration_ncu 3)"
    fi
  fi
fi

# The hook's own counters: flop_kernels under the hook with FLOPMETER_PROFILE=exact, every
# launch outside a CUDA graph read in every metric group (kernel replay). Compared kernel by
# kernel with what ncu read in the calibration above (within 0.1%; the ncu logs are why it
# comes after it), item by item with the analytic counts and FLOP, and in time with ncu.
# check_hook_counters.py writes the rows and $OUT/hook_counters.json.
if [ -z "$FK" ]; then
  record hook_counters skipped "flop_kernels under the hook's counters" "no flop_kernels binary"
elif [ -z "$HOOK" ]; then
  record hook_counters skipped "flop_kernels under the hook's counters" "no libflopmeter.so"
else
  # under ncu the program took up to 125 s; exact mode should take a fraction of that, and
  # a run cut by its limit still leaves the trace of what it measured (flushed each second)
  hc_lim=$(limit 90)
  if [ "$hc_lim" -lt 30 ]; then
    record hook_counters skipped "flop_kernels under the hook's counters" "time budget spent"
  else
    run_step hook_counters_exact "$hc_lim" env FLOPMETER_PROFILE=exact LD_PRELOAD="$HOOK" \
      FLOPMETER_OUTPUT_DIR="$WORK/traces" FLOPMETER_RUN_ID=hook_counters_exact \
      ${CUPTI_ENV[@]+"${CUPTI_ENV[@]}"} ${LIBPATH_ENV[@]+"${LIBPATH_ENV[@]}"} "$FK"
    rc=$?
    checker check_hook_counters.py hook_counters items \
      --flopmeter "$FM" --traces "$WORK/traces/hook_counters_exact" \
      --stdout "$OUT/runs/hook_counters_exact/stdout" \
      --plain "$OUT/runs/calibration_plain/stdout" --expected "$OUT/calibration/expected.txt" \
      --rc "$rc" --ncu-dir "$OUT/calibration" --calibration "$OUT/calibration.json" \
      --seconds "$(seconds_of hook_counters_exact)" \
      --plain-seconds "$(seconds_of calibration_plain)" \
      --ncu-seconds "$(seconds_of calibration_ncu)" --json "$OUT/hook_counters.json"
  fi
fi

# PyTorch: losses identical with and without the hook, phases, and the same launch count
# with argument hashing off.
TORCH_IMPORT=1
if [ "$SKIP_TORCH" = 0 ]; then
  run_step torch_import 120 python3 -c \
    'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())'
  TORCH_IMPORT=$?
fi
if [ "$SKIP_TORCH" = 1 ]; then
  record torch skipped "the PyTorch check" "--skip-torch"
elif [ "$TORCH_IMPORT" = 125 ]; then
  record torch skipped "the PyTorch check" "time budget spent"
elif [ "$TORCH_IMPORT" != 0 ]; then
  # no pip on the GPU machine: a missing torch is a fact about it, not a failure here
  record torch skipped "the PyTorch check" "torch not installed" "$(step_tail torch_import 1)"
elif [ -z "$HOOK" ]; then
  record torch skipped "the PyTorch check" "no libflopmeter.so"
else
  envset torch "$(head -n 1 "$OUT/runs/torch_import/stdout")"
  TORCH_CUPTI=$(timeout 60 python3 "$HERE/torch_train_loop.py" --find-cupti 2>/dev/null)
  # PyTorch's own libcupti, so that the process holds one copy even when its profiler loads it
  TORCH_CUPTI_ENV=()
  if [ -n "$TORCH_CUPTI" ]; then
    TORCH_CUPTI_ENV=("FLOPMETER_CUPTI=$TORCH_CUPTI")
  else
    TORCH_CUPTI_ENV=(${CUPTI_ENV[@]+"${CUPTI_ENV[@]}"})
  fi
  envset cupti_for_hook_torch "${TORCH_CUPTI_ENV[*]:-found by the loader}"
  TORCH_ENV=(CUBLAS_WORKSPACE_CONFIG=:4096:8 PYTHONHASHSEED=0)
  run_step torch_baseline 180 env "${TORCH_ENV[@]}" python3 "$HERE/torch_train_loop.py"
  trc_base=$?
  torch_hooked() { # RUN SECONDS ENV...: the training loop under the hook
    local run=$1 want=$2
    shift 2
    run_step "$run" "$want" env "${TORCH_ENV[@]}" "$@" LD_PRELOAD="$HOOK" \
      FLOPMETER_OUTPUT_DIR="$WORK/traces" FLOPMETER_RUN_ID="$run" \
      ${TORCH_CUPTI_ENV[@]+"${TORCH_CUPTI_ENV[@]}"} ${LIBPATH_ENV[@]+"${LIBPATH_ENV[@]}"} \
      python3 "$HERE/torch_train_loop.py"
  }
  # launch counting with the counters off, as for known_launches
  torch_hooked torch_hook 180 FLOPMETER_PROFILE=off
  trc_hook=$?
  torch_hooked torch_args0 180 FLOPMETER_ARGS=0 FLOPMETER_PROFILE=off
  trc_args0=$?
  trace_checker torch torch --traces "$WORK/traces/torch_hook" \
    --stdout "$OUT/runs/torch_hook/stdout" --baseline-stdout "$OUT/runs/torch_baseline/stdout" \
    --rc "$trc_hook" --baseline-rc "$trc_base" --args0-traces "$WORK/traces/torch_args0" \
    --args0-rc "$trc_args0" --summary-out "$OUT/counts/torch.json"
  record torch.seconds info "without hook $(seconds_of torch_baseline) s" \
    "with hook $(seconds_of torch_hook) s" "wall time, Python start and import included"

  # The GPT-style example of the Python package (python_gpt_example.py: 6 blocks, bf16,
  # AdamW), started as its users start it, through `python -m flopmeter run`. In order of
  # what a budget cut should spare longest:
  #  1. the package's example (the Python package's evidence): 400 steps with counters
  #     sampled, without checkpointing and with every block checkpointed and tagged as
  #     recomputation; its reports against the analytic count, 6ND, PaLM, FlopCounterMode;
  #  2. the counters: the same loop with FLOPMETER_PROFILE=exact (every launch replayed in
  #     every metric group, so fewer steps: up to 40 or 45 s), its training FLOP per step
  #     against the sampled run's;
  #  3. the wall time: the loop without the tool and with counters sampled, interleaved,
  #     three runs each (the first sampled one is the example's), medians; one under ncu
  #     reading the same metrics, two steps, against exact mode's step time.
  GPT_ARGS=(--steps 400 --progress)
  gpt_plain() { # RUN ARGS...: the example without the tool
    local run=$1
    shift
    run_step "$run" "${GPT_LIMIT:-90}" env "${TORCH_ENV[@]}" \
      PYTHONPATH="$ROOT/python_shim" python3 "$HERE/python_gpt_example.py" "$@"
  }
  gpt_tool() { # RUN PROFILE ARGS...: the example under `python -m flopmeter run`
    local run=$1 profile=$2
    shift 2
    run_step "$run" "${GPT_LIMIT:-90}" env "${TORCH_ENV[@]}" \
      ${TORCH_CUPTI_ENV[@]+"${TORCH_CUPTI_ENV[@]}"} ${LIBPATH_ENV[@]+"${LIBPATH_ENV[@]}"} \
      PYTHONPATH="$ROOT/python_shim" FLOPMETER_BIN="$FM" python3 -m flopmeter run \
      --lib "$HOOK" --output-dir "$WORK/traces" --run-id "$run" --profile "$profile" -- \
      python3 "$HERE/python_gpt_example.py" "$@"
  }
  gpt_rc() { # RUN: its exit status; 125 when it did not run (skipped for want of time)
    local rc
    rc=$(cat "$OUT/runs/$1/rc" 2>/dev/null)
    [[ $rc =~ ^[0-9]+$ ]] && echo "$rc" || echo 125
  }

  gpt_check() { # PREFIX MODE ARGS...: check_gpt_runs.py MODE, its numbers in $OUT/PREFIX.json
    local prefix=$1 mode=$2
    shift 2
    checker check_gpt_runs.py "$prefix" "$mode" --json "$OUT/$prefix.json" "$@"
  }

  gpt_plain gpt_none_1 "${GPT_ARGS[@]}"
  gpt_tool gpt_sampled_1 sampled "${GPT_ARGS[@]}" --checkpoint none
  gpt_tool gpt_tag sampled "${GPT_ARGS[@]}" --checkpoint tag
  if [ "$(gpt_rc gpt_sampled_1)" = 125 ] || [ "$(gpt_rc gpt_tag)" = 125 ]; then
    record python_example skipped "the Python package's example, untagged and tagged" \
      "time budget spent"
  else
    gpt_check python_example example --flopmeter "$FM" \
      --none-traces "$WORK/traces/gpt_sampled_1" --none-stdout "$OUT/runs/gpt_sampled_1/stdout" \
      --none-rc "$(gpt_rc gpt_sampled_1)" --tag-traces "$WORK/traces/gpt_tag" \
      --tag-stdout "$OUT/runs/gpt_tag/stdout" --tag-rc "$(gpt_rc gpt_tag)" --reports-dir "$OUT"
  fi

  GPT_LIMIT=100 gpt_tool gpt_exact exact --steps 40 --max-seconds 45 --eval-every 0 --progress
  if [ "$(gpt_rc gpt_exact)" = 125 ] || [ "$(gpt_rc gpt_sampled_1)" = 125 ]; then
    record gpt_counters skipped "sampled against exact on the GPT loop" "time budget spent"
  else
    gpt_check gpt_counters counters --flopmeter "$FM" \
      --sampled-traces "$WORK/traces/gpt_sampled_1" \
      --sampled-stdout "$OUT/runs/gpt_sampled_1/stdout" --exact-traces "$WORK/traces/gpt_exact" \
      --exact-stdout "$OUT/runs/gpt_exact/stdout" --exact-rc "$(gpt_rc gpt_exact)" \
      --reports-dir "$OUT"
  fi

  for round in 2 3; do
    gpt_plain "gpt_none_$round" "${GPT_ARGS[@]}"
    gpt_tool "gpt_sampled_$round" sampled "${GPT_ARGS[@]}"
  done
  NCU_ARGS=()
  if NCU_BIN=$("$HERE/ncu_crosscheck.sh" --print-ncu); then
    # the counters the calibration reads, all of them on every kernel, as exact mode does
    run_step gpt_ncu_run 90 env "${TORCH_ENV[@]}" PYTHONPATH="$ROOT/python_shim" "$NCU_BIN" \
      --target-processes all --clock-control none --replay-mode kernel \
      --metrics "$("$HERE/ncu_crosscheck.sh" --print-metrics)" --csv --page raw \
      --log-file "$OUT/runs/gpt_ncu.csv" python3 "$HERE/python_gpt_example.py" --steps 2 \
      --eval-every 0 --flopcounter-step -1 --progress
    NCU_ARGS=(--ncu-stdout "$OUT/runs/gpt_ncu_run/stdout"
      --ncu-stderr "$OUT/runs/gpt_ncu_run/stderr" --ncu-rc "$(gpt_rc gpt_ncu_run)"
      --ncu-ended "$(cat "$OUT/runs/gpt_ncu_run/ended" 2>/dev/null || echo 0)")
  else
    record gpt_timing.ncu skipped "the loop under ncu" "no ncu found"
  fi
  gpt_outs() { # PREFIX: the stdout files of the runs PREFIX_1..3 that ran
    local r
    for r in 1 2 3; do
      [ "$(gpt_rc "$1_$r")" = 125 ] || echo "$OUT/runs/$1_$r/stdout"
    done
  }
  mapfile -t NONE_OUTS < <(gpt_outs gpt_none)
  mapfile -t SAMPLED_OUTS < <(gpt_outs gpt_sampled)
  gpt_check gpt_timing timing \
    ${NONE_OUTS[@]+--none "${NONE_OUTS[@]}"} ${SAMPLED_OUTS[@]+--sampled "${SAMPLED_OUTS[@]}"} \
    --exact "$OUT/runs/gpt_exact/stdout" ${NCU_ARGS[@]+"${NCU_ARGS[@]}"}
fi

finish
