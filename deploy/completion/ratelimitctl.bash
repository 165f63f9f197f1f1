# bash completion for ratelimitctl (static: verbs, sub-verbs, flags, enum values)
# Installed to /usr/share/bash-completion/completions/ratelimitctl.

_ratelimitctl() {
    local cur prev
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev=""
    [[ $COMP_CWORD -gt 0 ]] && prev="${COMP_WORDS[COMP_CWORD-1]}"
    COMPREPLY=()

    local globals="--socket --json --timeout --help --version"

    # Values of options that take one.
    case "$prev" in
        --socket|--config)
            COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
        --protocol) COMPREPLY=($(compgen -W "tcp udp icmp icmpv6" -- "$cur")); return 0 ;;
        --action) COMPREPLY=($(compgen -W "limit allow deny" -- "$cur")); return 0 ;;
        --on-exceed) COMPREPLY=($(compgen -W "drop block monitor" -- "$cur")); return 0 ;;
        --algorithm)
            COMPREPLY=($(compgen -W "token_bucket gcra sliding_window fixed_window" -- "$cur")); return 0 ;;
        --sort) COMPREPLY=($(compgen -W "drops packets bytes" -- "$cur")); return 0 ;;
        --mode) COMPREPLY=($(compgen -W "auto native generic" -- "$cur")); return 0 ;;
        --timeout|--interval|--ttl|--window|--block-for|--rate|--bytes-rate|--burst|--limit|\
        --source|--port|--ipv4-prefix|--ipv6-prefix|-n)
            return 0 ;;
    esac

    # The verb and sub-verb typed so far (skipping options and their values).
    local verb="" sub="" i w
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        case "$w" in
            --socket|--timeout|--config|--protocol|--action|--on-exceed|--algorithm|--sort|--mode|\
            --interval|--ttl|--window|--block-for|--rate|--bytes-rate|--burst|--limit|--source|\
            --port|--ipv4-prefix|--ipv6-prefix|-n)
                ((i++)) ;;
            -*) ;;
            *)
                if [[ -z "$verb" ]]; then verb="$w"
                elif [[ -z "$sub" ]]; then sub="$w"
                fi ;;
        esac
    done

    local words=""
    case "$verb" in
        "") words="status rules allow deny acl keys top stats events reload config attach detach" ;;
        rules)
            case "$sub" in
                "") words="list add delete" ;;
                add) words="--source --protocol --port --action --on-exceed --algorithm --rate --burst
                            --bytes-rate --limit --window --block-for --ipv4-prefix --ipv6-prefix" ;;
            esac ;;
        allow|deny)
            case "$sub" in
                "") words="add remove" ;;
                add) words="--ttl" ;;
            esac ;;
        acl) [[ -z "$sub" ]] && words="list" ;;
        keys) [[ -z "$sub" ]] && words="show" ;;
        top) words="--once -n --sort --interval" ;;
        stats) words="--watch --interval" ;;
        reload) words="--config --force" ;;
        config)
            case "$sub" in
                "") words="check" ;;
                check) words="--daemon"
                       [[ "$cur" != -* ]] && { COMPREPLY=($(compgen -f -- "$cur")); return 0; } ;;
            esac ;;
        attach)
            words="--mode"
            if [[ -z "$sub" && "$cur" != -* ]]; then
                COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return 0
            fi ;;
        detach)
            words="--all"
            if [[ -z "$sub" && "$cur" != -* ]]; then
                COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return 0
            fi ;;
    esac

    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$words $globals" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
    return 0
}

complete -F _ratelimitctl ratelimitctl
