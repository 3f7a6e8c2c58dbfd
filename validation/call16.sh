#!/usr/bin/env bash
# Device call (2 GPUs, a fresh machine "O"): call15.sh again, to test the host-speed policy held out —
# the shipped CPU issue figures (machine N's probe, with its host speed) scaled by the speed each run
# recorded, on a machine whose runs took no part in choosing them.
NAME=call16 TAG="${TAG:-machineO}" LOADS="0" exec bash "$(dirname "$0")/call15.sh"
