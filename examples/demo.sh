#!/usr/bin/env bash
# The demo: a whole matching cycle on the embedded defaults (SQLite in demo-run/, file outbox).
# Every step is an ordinary `tandem` command a coordinator would type.
set -euo pipefail
cd "$(dirname "$0")/.."
TANDEM=${TANDEM:-.venv/bin/tandem}
RUN=demo-run
rm -rf "$RUN" && mkdir -p "$RUN"
export TANDEM_DB="sqlite:///$RUN/tandem.db"

echo "== 1. Import the sample roster (examples/mentors.csv, examples/mentees.csv)"
$TANDEM init
$TANDEM import mentors examples/mentors.csv
$TANDEM import mentees examples/mentees.csv
echo "-- importing the same files again changes nothing:"
$TANDEM import mentees examples/mentees.csv
$TANDEM participants summary
