#!/usr/bin/env bash
# README command 1: set up (dependencies, Node 24 from npm, tgtd when needed), build, and run the walkthrough:
# discover, log in, verified I/O, session view, log out — against a real target if a URL is given, else a local tgtd.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
  missing=()
  command -v tgtd >/dev/null 2>&1 || missing+=(tgt)
  command -v iscsi-ls >/dev/null 2>&1 || missing+=(libiscsi-bin)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "demo: installing ${missing[*]} (Debian packages) for the local test target"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "demo: the local target needs Debian's ${missing[*]}: run as root on Debian/Ubuntu, or give a target URL:" >&2
      echo "      npm run demo -- iscsi://HOST[:PORT]/TARGET-IQN/LUN" >&2
      exit 1
    fi
  fi
fi

npm install --no-audit --no-fund --loglevel=error
npm run --silent build
# Inside npm run, node_modules/.bin (with Node 24 from the npm "node" package) comes first on PATH.
node scripts/demo.mjs "$@"
