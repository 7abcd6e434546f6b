#!/usr/bin/env bash
# Take the GPU figures on a lent machine (no package index there; see benchmarks/RESULTS.md).
#
# From the repository root, with the wheels of rasterio, segmentation-models-pytorch and their
# small dependencies in .whl/ (ignored by git, carried along):
#     bash benchmarks/gpu_run.sh            # writes $OUT/bench_gpu.json and $OUT/bench_gpu.log
# Extra arguments go to bench_gpu.py (e.g. --no-compile, --e2e-tiles 4096).
# Needs no `pip install -e .`: the repository's packages are imported through PYTHONPATH.
set -uo pipefail
OUT="${OUT:-$PWD/bench_out}"
mkdir -p "$OUT"
LOG="$OUT/bench_gpu.log"

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl 2>&1 | tee "$LOG" || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
else
    echo "no .whl/ folder: using the installed rasterio and segmentation-models-pytorch" | tee "$LOG"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1

{
    date -u
    nvidia-smi -L || true
    echo "CPUs: $(nproc)"; df -h /dev/shm | tail -n 1
    python3 -c "import sys, torch, numpy, rasterio, segmentation_models_pytorch as smp, starting_kit
print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda,
      '| numpy', numpy.__version__, '| rasterio', rasterio.__version__,
      '(GDAL', rasterio.__gdal_version__ + ') | smp', smp.__version__,
      '| flair-kit', starting_kit.__version__)
print('GPU:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none visible')"
} 2>&1 | tee -a "$LOG" || exit 1

python3 benchmarks/bench_gpu.py --json "$OUT/bench_gpu.json" "$@" 2>&1 | tee -a "$LOG"
status=${PIPESTATUS[0]}
echo "bench_gpu.py exited with $status" | tee -a "$LOG"
exit "$status"
