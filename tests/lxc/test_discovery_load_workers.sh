#!/bin/bash
# The discovery-under-load scenario (test_discovery_load.sh) with two event
# loops (global.workers: 2): wrk's connections land on both, so a container
# stopping must retire its server in every loop (published by the main loop)
# with still zero failed requests, and a container starting must join in both.
here=$(cd "$(dirname "$0")" && pwd)
TB_WORKERS=2 exec bash "$here/test_discovery_load.sh"
