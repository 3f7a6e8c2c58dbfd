#!/usr/bin/env bash
# Device call (2 GPUs, machine J): validation/host_machine_call.sh with the one-process and tp 2 probes.
NAME=call11 TAG=machineJ PROBES="" exec bash "$(dirname "$0")/host_machine_call.sh"
