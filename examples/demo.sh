#!/usr/bin/env bash
# The demo: a whole guided program in simulated time on the embedded defaults (SQLite and
# a file outbox in demo-run/). Every step is an ordinary `tandem` command.
set -euo pipefail
cd "$(dirname "$0")/.."
TANDEM=${TANDEM:-.venv/bin/tandem}
PYTHON=${PYTHON:-.venv/bin/python}
RUN=demo-run
rm -rf "$RUN" && mkdir -p "$RUN/checkins" "$RUN/surveys"
export TANDEM_DB="sqlite:///$RUN/tandem.db"
export TANDEM_DELIVERY="file:$RUN/outbox"
COHORT="Spring 2027"
START=2027-02-01   # a Monday: introductions and the first topic go out together
tick() { $TANDEM tick --now "$1" | sed 's/^/    /'; }

echo "== 1. Import the sample roster (examples/mentors.csv, examples/mentees.csv)"
$TANDEM init
# The key file (mode 0600, outside the database): the keys that sign participants' links
# and, in section 5, the certificates.
export TANDEM_KEYS="$RUN/tandem-keys.json"
$TANDEM keys init --now 2027-01-20T09:00
$TANDEM import mentors examples/mentors.csv
$TANDEM import mentees examples/mentees.csv
echo "-- importing the same file again changes nothing:"
$TANDEM import mentees examples/mentees.csv
$TANDEM participants summary

echo
echo "== 2. Match: optimal (min-cost flow), with the proof recorded"
$TANDEM match --cycle 2027 --out "$RUN/match.csv" --now 2027-01-20T12:00
$TANDEM match explain E001 --mentor M002

echo
echo "== 3. Create the cohort and run 16 weeks in simulated time"
$TANDEM cohort create "$COHORT" --cycle 2027 --start $START --timezone America/Chicago \
    --send-day mon --send-time 09:00 --coordinator coordinator@northlake.edu \
    --coordinator-name "Alex Kim" --sender "Tandem mentoring <mentoring@northlake.edu>" \
    --resource ombuds="the University Ombuds Office (ombuds@northlake.edu)" \
    --resource counselling="the Counselling Service (counselling@northlake.edu, 555-0140)" \
    --now 2027-01-25T12:00
survey() {  # invented answers to survey $1, as a survey tool would export them, imported at $2
    $PYTHON examples/simulate_surveys.py "$TANDEM_DB" "$COHORT" "$1" "$RUN/surveys/$1.csv"
    $TANDEM survey import "$COHORT" "$RUN/surveys/$1.csv" --now "$2" | sed 's/^/    /'
}
for week in $(seq 1 16); do
    monday=$($PYTHON -c "import datetime as d; print((d.date(2027,2,1)+d.timedelta(weeks=$week-1)).isoformat())")
    thursday=$($PYTHON -c "import datetime as d; print((d.date(2027,2,1)+d.timedelta(weeks=$week-1, days=3)).isoformat())")
    echo "-- week $week ($monday)"
    if [ "$week" = 1 ]; then
        echo "-- introductions, the first topic and the baseline survey's invitation (each with a personal link)"
    fi
    tick "${monday}T16:00"
    if [ "$week" = 1 ]; then
        $TANDEM pair decline "$COHORT" E005 --role mentee --reason "schedule conflict" --now 2027-02-03T12:00
        echo "-- most people answer the baseline survey (here: a survey tool's export; the links open the same survey page);"
        echo "   a later tick reminds the others, once"
        survey baseline 2027-02-03T18:00
    fi
    if [ "$week" = 2 ]; then
        echo "-- rematch looks for a mentor with room for the freed mentee (here every other mentor is full, and it says so):"
        $TANDEM cohort rematch "$COHORT" --now 2027-02-08T17:00
    fi
    if [ "$week" = 16 ]; then
        echo "-- the final week's topic links to the closing survey; most answer it within days"
        survey closing "${monday}T20:00"
    fi
    $PYTHON examples/simulate_checkins.py "$TANDEM_DB" "$COHORT" "$week" "$RUN/checkins/week-$week.csv"
    $TANDEM checkin import "$COHORT" "$RUN/checkins/week-$week.csv" --now "${thursday}T10:00" | sed 's/^/    /'
    tick "${thursday}T16:00"
    if [ "$week" = 8 ]; then
        echo "-- half-way: the pairs at risk, and why (the rules: tandem/program/tick/reminders.py)"
        $TANDEM cohort status "$COHORT" --at-risk --now "${thursday}T17:00"
    fi
done
echo "-- after the final week the program closes (and whoever has not answered the closing survey gets one reminder):"
tick 2027-05-31T16:00

echo
echo "== 4. Cohort status"
$TANDEM cohort status "$COHORT" --now 2027-05-31T17:00
echo "Messages in $RUN/outbox: $(ls "$RUN/outbox" | wc -l) .eml files, $(grep -l '/survey/' "$RUN/outbox"/*.eml | wc -l) of them with a survey link, e.g."
grep -h -o 'http://localhost:8000/survey/[A-Za-z0-9_-]*' "$RUN/outbox"/*.eml | awk 'NR == 1 { print "    " $0 }'

echo
echo "== Evaluation: the follow-up survey three months on, and the cohort report"
$TANDEM survey show followup
echo "-- 13 weeks after the close the tick invites the mentors to the follow-up, and reminds those who have not answered 4 days on:"
tick 2027-08-23T16:00
survey followup 2027-08-25T12:00
tick 2027-08-31T16:00
echo "-- importing the same export again changes nothing:"
$TANDEM survey import "$COHORT" "$RUN/surveys/closing.csv" --now 2027-08-31T12:05
$TANDEM report "$COHORT" --out "$RUN/report.html" --now 2027-08-31T12:00
$TANDEM report "$COHORT" --format xlsx --out "$RUN/report.xlsx" --now 2027-08-31T12:00
$TANDEM report "$COHORT" --format json --now 2027-08-31T12:00 \
    | $PYTHON -c "import json, sys; r = json.load(sys.stdin); g = [x for x in r['competency_gains'] if not x['suppressed']]; print(f'  {len(g)} competency gains reported, {sum(x[\"p_value\"] < 0.05 for x in g)} with p < 0.05')"
mentor=$($PYTHON -c "import csv; rows = list(csv.DictReader(open('$RUN/match.csv'))); from collections import Counter; print(Counter(r['mentor_id'] for r in rows if r['mentor_id']).most_common(1)[0][0])")
$TANDEM report mentor "$COHORT" "$mentor" --out "$RUN/mentor-$mentor.html" --now 2027-08-31T12:00 \
    || echo "  (mentor $mentor: feedback refused, as it would expose a mentee's answers)"

# ---------------------------------------------------------------------------------------
# Certification (kept as the final section): issuer keys, certificates, delivery, checking.
echo
echo "== 5. Certify the mentors, deliver the certificates, verify one offline"
export TANDEM_ISSUER_NAME="Northlake University Research Mentoring Program"
export TANDEM_ISSUER_URL="https://mentoring.northlake.edu"
$TANDEM keys export-jwks --out "$RUN/jwks.json"
$TANDEM certify "$COHORT" --out "$RUN/certificates" --actor coordinator --now 2027-06-01T10:00
echo "-- certifying again issues nothing new:"
$TANDEM certify "$COHORT" --out "$RUN/certificates" --actor coordinator \
    --now 2027-06-01T10:05 | tail -n 1
echo "-- the next tick delivers each certificate by message (PDF and signed credential attached):"
tick 2027-06-01T10:10
certificate=$(ls "$RUN/certificates"/*.jwt | head -n 1)
echo "-- anyone can check a certificate offline with the published key set:"
$TANDEM verify "$certificate" --jwks "$RUN/jwks.json" --now 2027-06-01T10:15

echo
echo "== 6. The web pages the messages link to, and the coordinator console"
echo "The links in $RUN/outbox point at http://localhost:8000. Serve them with:"
echo "    TANDEM_DB=$TANDEM_DB TANDEM_KEYS=$TANDEM_KEYS $TANDEM serve --port 8000"
echo "and add yourself as a coordinator (console at http://localhost:8000/console) with:"
echo "    TANDEM_DB=$TANDEM_DB $TANDEM coordinator add you@northlake.edu --name \"Your Name\""
