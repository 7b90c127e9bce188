#!/usr/bin/env bash
# README command 1: set up (dependencies, Node 24 from npm, and — where this is Debian/Ubuntu as root — the Debian
# packages the test suite uses), build, and run the walkthrough: discover, log in, verified I/O, session view, log out,
# and on Linux the session becoming a disk (iscsid --hba simulator, ext4 on the LUN, a file written and read back).
# The walkthrough itself needs nothing installed: without a URL it uses the project's built-in test target.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v tgtd >/dev/null 2>&1 || missing+=(tgt)
command -v iscsi-ls >/dev/null 2>&1 || missing+=(libiscsi-bin)
command -v strace >/dev/null 2>&1 || missing+=(strace)
# driver/ (issue 11): the core's C++ tests and the ABI mirror test compile with gcc/g++ and make.
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
# The HBA simulator's test (test/integration/hba-sim.test.ts) drives its NBD exports with fio and libnbd's tools.
command -v fio >/dev/null 2>&1 || missing+=(fio)
command -v nbdinfo >/dev/null 2>&1 || missing+=(libnbd-bin)
command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
# The iscsid --hba tests and the walkthrough's disk part mount the LUN through nbdfuse, and make ext4 on it.
# (Its own package from Debian 13 on; part of libnbd-bin in Debian 12.)
if ! command -v nbdfuse >/dev/null 2>&1; then
  if apt-cache show nbdfuse >/dev/null 2>&1; then missing+=(nbdfuse); else missing+=(libnbd-bin); fi
fi
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} (Debian packages the test suite runs against)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: the test suite (npm test) needs Debian's ${missing[*]}; the demo below does not (without them it skips its disk part)." >&2
  fi
fi

npm install --no-audit --no-fund --loglevel=error
npm run --silent build
# The HBA simulator (driver/sim), for the walkthrough's last part: the session becomes a disk (Linux).
if [ "$(uname -s)" = Linux ]; then
  if command -v make >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1; then
    make -s -C driver sim
  else
    echo "setup: no make and g++: the HBA simulator is not built, and the walkthrough's disk part is skipped" >&2
  fi
fi
# Inside npm run, node_modules/.bin (with Node 24 from the npm "node" package) comes first on PATH.
node scripts/demo.mjs "$@"
