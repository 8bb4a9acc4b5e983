# bash completion for ovopctl: global options, verbs, their sub-verbs and options.
# Install: copy to /usr/share/bash-completion/completions/ovopctl, or `. ovopctl.bash`.
#
# Nothing is listed here: every candidate comes from the ovopctl being completed, asked
# lazily (`ovopctl --help`, `ovopctl VERB [SUB] --help`) and cached per shell, so the
# completion cannot drift from the binary. The help is asked without a key (OVOP_KEY and
# OVOP_INSECURE_PLAINTEXT unset), so a verb that does not know --help is refused before it
# could send anything to the broker.

declare -gA _ovopctl_help_cache=()

# Prints the help (stdout and stderr) of "$@" on the ovopctl $1, cached.
_ovopctl_help()
{
    local key="$*"
    if [[ -z ${_ovopctl_help_cache[$key]+set} ]]; then
        _ovopctl_help_cache[$key]=$(env -u OVOP_KEY -u OVOP_INSECURE_PLAINTEXT \
            timeout 3 "$@" --help 2>&1 </dev/null)
    fi
    printf '%s\n' "${_ovopctl_help_cache[$key]}"
}

# The options (--name) an option help lists; $2: "value" for those taking a value only.
_ovopctl_opts_of()
{
    local line prev="" name mode=${2-}
    while IFS= read -r line; do
        # An option is its "  --name  text" line followed by its "[...default: ...]" line.
        if [[ $prev =~ ^\ \ --([a-z0-9-]+) ]]; then
            name=${BASH_REMATCH[1]}
            if [[ $line =~ ^\ +\[.*default: ]] &&
                [[ $mode != value || ! $line =~ default:\ (true|false)\] ]]; then
                printf -- '--%s\n' "$name"
            fi
        fi
        prev=$line
    done <<<"$1"
    # --help and --version have no bracket line after them.
    [[ $mode != value && $1 == *"  --help "* ]] && printf -- '--help\n'
    [[ $mode != value && $1 == *"  --version "* ]] && printf -- '--version\n'
}

# Sub-verbs of the path "$2..." from its usage line ("usage: ovopctl [..] PATH a|b | PATH c").
_ovopctl_subs_of()
{
    local help=$1 path=$2 first rest
    first=${help%%$'\n'*}
    [[ $first == *"usage: ovopctl"* ]] || return 0
    rest=" ${first#*usage: ovopctl }"
    rest=${rest/ \[*\] / }
    while [[ $rest == *" $path "* ]]; do
        rest=${rest#*" $path "}
        local word=${rest%% *}
        [[ $word =~ ^[a-z][a-z|-]*$ ]] && tr "|" "\n" <<<"$word"
    done
}

_ovopctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local prog=${COMP_WORDS[0]} i word global_help value_opts path=() candidates
    COMPREPLY=()
    prog=$(type -P -- "$prog" 2>/dev/null || printf '%s' "$prog")
    global_help=$(_ovopctl_help "$prog")
    value_opts=" $(_ovopctl_opts_of "$global_help" value | tr '\n' ' ') "

    # The global options and their values come before the verb; then the words of the path.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((${#path[@]} == 0)) && [[ $word == --* ]]; then
            [[ $word != *=* && $value_opts == *" $word "* ]] && ((i++))
            continue
        fi
        [[ $word == -* ]] && break
        path+=("$word")
    done
    if ((${#path[@]} == 0)) && [[ $value_opts == *" $prev "* ]]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
    fi

    if ((${#path[@]} == 0)); then
        if [[ $cur == -* ]]; then
            candidates=$(_ovopctl_opts_of "$global_help")
        else
            # Verbs: the first word of the lines of the help's "Verbs:" section.
            candidates=$(sed -n '/^Verbs:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' <<<"$global_help" |
                sort -u)
        fi
        mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
        return 0
    fi

    local help
    help=$(_ovopctl_help "$prog" "${path[@]}")
    if [[ $cur == -* ]]; then
        if [[ $help == *$'\nOptions:'* ]]; then
            candidates=$(_ovopctl_opts_of "$help")
        else
            # No help of its own: the options its lines of `ovopctl --help` show.
            candidates=$(grep -E "^  ${path[*]}( |$)" <<<"$global_help" | grep -oE -- '--[a-z0-9-]+')
        fi
        mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
        return 0
    fi
    candidates=$(_ovopctl_subs_of "$help" "${path[*]}")
    if [[ -n $candidates ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
    else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
}

complete -o filenames -F _ovopctl ovopctl
