#!/usr/bin/env bash
# Short device call (2 GPUs, a fresh machine "Z"): the CPU issue probe of tp 1 data parallel (the model
# in DDP under no_sync: profiler/host_issue.py --ddp) beside the same two processes without DDP
# (--independent), pinned like machine N's shipped probe, with the host speed before and after; the
# shipped profile has no DDP entry (docs/accuracy.md item 18). Decided before the data: the DDP entry
# joins the shipped profile if, on the runs of machines M to X (all before Z), it lowers the dp 2
# plans' MAPE without raising the max over all runs.   -> $OUT/call27.tgz
# (Ran as its own copy of these steps; a wrapper of host_issue_call.sh since.)
NAME=call27 exec bash "$(cd "$(dirname "$0")" && pwd)/host_issue_call.sh" "2:--ddp --pin-fastest 2" "2:--independent --pin-fastest 2"
