#!/usr/bin/env node
// iscsid: see docs/api.md. Runs in the foreground; launchd (macOS) or systemd keeps it alive.
import "../dist/daemon/main.js";
