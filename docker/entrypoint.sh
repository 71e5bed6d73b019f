#!/bin/bash
# The container's entry point. It runs the command it is given (by default `calhousing run`);
# after a successful `calhousing run` it prints `calhousing summary` for the same folders. The
# exit code is the command's own: a failed run exits non-zero and prints no summary, and a
# summary that cannot be built fails the container too.
set -euo pipefail

if [[ $# -lt 2 || $1 != calhousing || $2 != run ]]; then
    exec "$@"
fi

"$@" || exit

# The summary reads the folders the run wrote to: --artifacts-dir and --reports-dir, spelled out
# in full (with a space or =), else the defaults /app/artifacts and /app/reports.
summary=(calhousing summary)
args=("${@:3}")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --artifacts-dir | --reports-dir)
            summary+=("${args[i]}" "${args[i + 1]}")
            i=$((i + 1))
            ;;
        --artifacts-dir=* | --reports-dir=*) summary+=("${args[i]}") ;;
        -p | --parameter) i=$((i + 2)) ;;
        -h | --help) exit 0 ;;
    esac
done
echo
exec "${summary[@]}"
