#!/bin/sh
# Compresses every man page in DIR as Debian wants them: gzip -9, no name or time stamp (-n), so
# that two builds give the same bytes.
set -eu
for page in "$1"/*.1; do
  gzip -9nc "$page" >"$page.gz"
done
