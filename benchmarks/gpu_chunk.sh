#!/usr/bin/env bash
# One chunk of the GPU `full` suite (benchmarks/GPU.md), run on the device from the repository root:
#   bash benchmarks/gpu_chunk.sh speed|mrpc-rte|sst2 [TIME_BUDGET_SECONDS]
# Reads .bench-carry/ (packed models, GLUE archive, wheels); writes $OUT/full-gpu-<chunk>.json, its report and
# log. A .bench-carry/resume-<chunk>.json (an earlier run of the chunk) is continued: its units are not rerun.
set -uo pipefail
chunk=${1:?usage: gpu_chunk.sh speed|mrpc-rte|sst2 [TIME_BUDGET_SECONDS]}
budget=${2:-}
out=${OUT:-benchmarks/results}
if compgen -G ".bench-carry/whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .bench-carry/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
mkdir -p /tmp/glue && tar xzf .bench-carry/glue.tar.gz -C /tmp/glue || exit 1
results=$out/full-gpu-$chunk.json
if [ -f ".bench-carry/resume-$chunk.json" ]; then cp ".bench-carry/resume-$chunk.json" "$results"; fi
suite=(python3 benchmarks/run.py --suite full --models-dir .bench-carry/models --teachers-dir /tmp/teachers
       --glue-dir /tmp/glue --results "$results")
scores=(--sections quality --quality-methods student_alone logit_kd --set 'quality.seeds=[0,1]')
case $chunk in
  speed) "${suite[@]}" --sections inference training seq_len_scaling --set training.rounds=3 training.isolated=false \
           'training.presets=["distilbert","minilm","pkd-skip","ebbt"]' \
           --time-budget "${budget:-300}" ;;
  mrpc-rte) "${suite[@]}" "${scores[@]}" --rows 'quality/6->3 MRPC/*' 'quality/6->3 RTE/*' \
              --time-budget "${budget:-360}" ;;
  sst2) "${suite[@]}" "${scores[@]}" --rows 'quality/6->3 SST-2/*' --time-budget "${budget:-420}" ;;
  *) echo "unknown chunk $chunk: speed, mrpc-rte or sst2" >&2; exit 2 ;;
esac 2>&1 | tee "$out/$chunk.log"
