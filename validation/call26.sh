#!/usr/bin/env bash
# Short device call (2 GPUs, a fresh machine "Y"): the CPU issue probe (profiler/host_issue.py, pinned
# like machine N's shipped one) with the layer probe in its speed before and after, so that machine X's
# runs (call25: eager llama1b, 40 steps, layer probe at every step) can be costed with a profile from
# another host scaled by either index (docs/accuracy.md item 17); then profiler/host_speed.py for 5 s.
# -> $OUT/call26.tgz. (Ran as its own copy of these steps; a wrapper of host_issue_call.sh since.)
HERE="$(cd "$(dirname "$0")" && pwd)"
NAME=call26 bash "$HERE/host_issue_call.sh" "1:--layer-probe --pin-fastest 2" "2:--layer-probe --independent --pin-fastest 2" "2:--layer-probe --pin-fastest 2"
python3 "$HERE/../profiler/host_speed.py" --seconds 5 2>&1 | tail -1
