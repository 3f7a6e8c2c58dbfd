#!/usr/bin/env bash
# Device call (2 GPUs, machine L): as call12.sh, with the DDP probe (--ddp) too.
NAME=call13 TAG="${TAG:-machineL}" PROBES="independent ddp" exec bash "$(dirname "$0")/host_machine_call.sh"
