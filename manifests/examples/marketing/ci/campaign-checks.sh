#!/usr/bin/env bash
# The checks a pull request to the campaigns repository runs; both CI examples call this.
#
#   CAMPAIGN_REPORT_FORMAT  github | gitlab | human (default human): how lint reports findings
#   CAMPAIGN_NAMESPACE      the namespace GitOps applies the campaigns to (default marketing-eu)
#   BACKTEST_DATABASE_URL   a read-only replica of the loyalty database; unset: no backtest
#   OUT                     where reports go (default ./campaign-reports)
#
# Exit status: lint's (1 for findings, 2 for unreadable input) or the backtest's.
set -euo pipefail

format="${CAMPAIGN_REPORT_FORMAT:-human}"
namespace="${CAMPAIGN_NAMESPACE:-marketing-eu}"
out="${OUT:-campaign-reports}"
mkdir -p "$out"

status=0
if [ "$format" = gitlab ]; then
    loyalty-campaigns lint --namespace "$namespace" --format gitlab campaigns/ >"$out/gl-code-quality-report.json" || status=$?
else
    loyalty-campaigns lint --namespace "$namespace" --format "$format" campaigns/ || status=$?
fi
if [ "$status" -ne 0 ]; then
    exit "$status"
fi

if [ -n "${BACKTEST_DATABASE_URL:-}" ]; then
    loyalty-campaigns backtest --namespace "$namespace" --campaigns campaigns/ --since 30d \
        --database "$BACKTEST_DATABASE_URL" --out "$out/backtest.md"
    echo "backtest report: $out/backtest.md (plot: $out/backtest.svg)"
fi
