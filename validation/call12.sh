#!/usr/bin/env bash
# Device call (2 GPUs, machine K): as call11.sh, with the two-process tp 1 probe (--independent) too.
NAME=call12 TAG="${TAG:-machineK}" PROBES="independent" exec bash "$(dirname "$0")/host_machine_call.sh"
