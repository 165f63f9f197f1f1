#!/usr/bin/env bash
# Sources deploy/completion/ratelimitctl.bash and checks the completions of a
# table of command-line prefixes; then checks that every verb and flag the real
# ratelimitctl accepts is offered. No privileges needed.
# Args: BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?build dir}
SRC=${2:?source dir}
COMPLETION="$SRC/deploy/completion/ratelimitctl.bash"
CTL="$BUILD/controller/ratelimitctl"
[[ -x "$CTL" ]] || { echo "SKIP: $CTL not built"; exit 77; }

failures=0

# complete LINE: prints the sorted completions for the last word of LINE
# (a trailing space means an empty word is being completed).
complete_line() {
    bash -c '
        source "$1"
        read -ra COMP_WORDS <<< "$2"
        [[ "$2" == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        _ratelimitctl
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ $//"
    ' _ "$COMPLETION" "$1"
}

check() {  # LINE EXPECTED(sorted, space separated)
    local got
    got=$(complete_line "$1")
    if [[ "$got" == "$2" ]]; then
        echo "ok   [$1] -> $got"
    else
        echo "FAIL [$1] -> '$got', expected '$2'"
        failures=$((failures + 1))
    fi
}

check "ratelimitctl r"                         "reload rules"
check "ratelimitctl st"                        "stats status"
check "ratelimitctl rules "                    "add delete list"
check "ratelimitctl --json rules l"            "list"
check "ratelimitctl rules add web --on"        "--on-exceed"
check "ratelimitctl rules add web --on-exceed " "block drop monitor"
check "ratelimitctl rules add web --algorithm s" "sliding_window"
check "ratelimitctl rules add web --rate "     ""
check "ratelimitctl allow "                    "add remove"
check "ratelimitctl deny add 198.18.0.1 --t"   "--timeout --ttl"
check "ratelimitctl acl "                      "list"
check "ratelimitctl keys "                     "show"
check "ratelimitctl top --s"                   "--socket --sort"
check "ratelimitctl top --sort "               "bytes drops packets"
check "ratelimitctl stats --w"                 "--watch"
check "ratelimitctl config "                   "check"
check "ratelimitctl attach lo --mode "         "auto generic native"
check "ratelimitctl detach --a"                "--all"

# Every verb of the binary is completed from an empty word, and every flag of
# `rules add` and `top` from "--".
verbs=$("$CTL" --help | awk '/^Subcommands:/{s=1; next} s && !NF {exit} s {print $1}' | sort | tr '\n' ' ' | sed 's/ $//')
check "ratelimitctl " "$verbs"
for cmd in "rules add" "top" "stats" "allow add"; do
    offered=$(complete_line "ratelimitctl $cmd --")
    # shellcheck disable=SC2086
    for flag in $("$CTL" $cmd --help | grep -oE -- '--[a-z0-9-]+' | sort -u); do
        [[ "$flag" == --help ]] && continue
        if [[ " $offered " != *" $flag "* ]]; then
            echo "FAIL [ratelimitctl $cmd --] does not offer $flag (offered: $offered)"
            failures=$((failures + 1))
        fi
    done
done

if ((failures > 0)); then
    echo "$failures completion checks failed"
    exit 1
fi
echo "all completion checks passed"
