#!/usr/bin/env bash
# checksrc.sh - the source rules a compiler cannot enforce (STYLE.md 5.8):
#   1. no sprintf strcpy strcat strtok atoi atol gets in src/ and include/;
#   2. no raw malloc calloc realloc free outside src/core/alloc.c;
#   3. clang-format --dry-run -Werror over src/ include/ tests/unit/;
#   4. layers (STYLE.md 5.1, docs/design/layers.md): every #include "am/X.h"
#      in src/<module>/ and in the headers of a module points at its own
#      module or one it may depend on; nothing below the daemon includes
#      one above it.
# Comments and string literals are blanked before matching, so prose that
# mentions a banned name is fine; `->free(` and `.free(` members are too.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
mapfile -t code < <(find src include -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)

# Prints file:line: text for every call of a name in $1 (a regex alternation)
# in the files given after it.
scan() {
    local names=$1
    shift
    [[ $# -gt 0 ]] || return 0
    perl -e '
        my $names = shift @ARGV;
        my $bad = 0;
        for my $file (@ARGV) {
            open(my $fh, "<", $file) or die "$file: $!";
            local $/;
            my $src = <$fh>;
            close $fh;
            my $orig = $src;
            # Blank comments, string and char literals, keeping newlines so
            # line numbers survive.
            $src =~ s{(/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27)}
                     { my $m = $1; $m =~ s/[^\n]/ /g; $m }gse;
            my @lines = split /\n/, $src, -1;
            my @olines = split /\n/, $orig, -1;
            for my $i (0 .. $#lines) {
                if ($lines[$i] =~ /(?<![\w.>])(?:$names)\s*\(/) {
                    print "$file:", $i + 1, ": $olines[$i]\n";
                    $bad = 1;
                }
            }
        }
        exit $bad;
    ' "$names" "$@"
}

if ! scan 'sprintf|strcpy|strcat|strtok|atoi|atol|gets' "${code[@]}"; then
    echo "checksrc: banned function (use snprintf, am_str/am_buf, strtol/strtoul)" >&2
    fail=1
fi

raw=()
for f in "${code[@]}"; do
    [[ "$f" == src/core/alloc.c ]] || raw+=("$f")
done
if ! scan 'malloc|calloc|realloc|free' "${raw[@]}"; then
    echo "checksrc: raw allocation outside src/core/alloc.c (use am/alloc.h or an arena)" >&2
    fail=1
fi

# Which module each public header belongs to. A header not listed falls to
# the one directory of src/ with X.c or X_*.c; anything else must be added.
declare -A owner=(
    [alloc]=core [arena]=core [buf]=core [clock]=core [err]=core [log]=core [loop]=core
    [proc]=core [str]=core [map]=core
    [pbwire]=core [span]=otlp [otlp]=otlp
    [grpc]=net [h2]=net [http]=net [http1]=net [inflate]=net [server]=net [tls]=net
    [obs]=metrics [series]=metrics [expo]=metrics [rw]=metrics [self]=metrics
    [classify]=genai [conv]=genai [derive]=genai [pricing]=genai [quality]=genai
    [trace_buf]=genai [match]=genai [rules]=genai
    [config]=config [yaml]=config
    [daemon]=daemon
)
# What each module may include besides itself: core < otlp < {net, metrics,
# genai} < config < daemon. Of the middle three, genai may use metrics' obs.h
# only (derive emits the observations series consumes); net and metrics
# stand alone on core. genai also reads config's node tree types (yaml.h:
# matchers compile from a config sub-tree) but links none of config.
declare -A may=(
    [core]=""
    [otlp]="core"
    [net]="core"
    [metrics]="core"
    [genai]="core otlp metrics:obs config:yaml"
    [config]="core otlp net metrics genai"
    [daemon]="core otlp net metrics genai config"
)

header_owner() {
    local name=$1
    if [[ -n "${owner[$name]:-}" ]]; then
        echo "${owner[$name]}"
        return
    fi
    local dirs
    dirs=$(find src -mindepth 2 -maxdepth 2 \( -name "$name.c" -o -name "${name}_*.c" \) \
        -printf '%h\n' | sort -u)
    if [[ $(wc -l <<<"$dirs") -eq 1 && -n "$dirs" ]]; then
        basename "$dirs"
    fi
}

layer_ok() { # FROM_MODULE TO_MODULE HEADER_NAME
    local from=$1 to=$2 name=$3 d
    [[ "$from" == "$to" ]] && return 0
    for d in ${may[$from]}; do
        [[ "$d" == "$to" || "$d" == "$to:$name" ]] && return 0
    done
    return 1
}

for f in "${code[@]}"; do
    case "$f" in
    include/am/*.h) mod=$(header_owner "$(basename "$f" .h)") ;;
    src/*/*) mod=$(cut -d/ -f2 <<<"$f") ;;
    *) continue ;;
    esac
    if [[ -z "$mod" || -z "${may[$mod]+set}" ]]; then
        echo "$f: no layer known for this file (add it to checksrc.sh owner/may)" >&2
        fail=1
        continue
    fi
    while IFS=: read -r line inc; do
        to=$(header_owner "$inc")
        if [[ -z "$to" ]]; then
            echo "$f:$line: am/$inc.h has no layer (add it to checksrc.sh owner)" >&2
            fail=1
        elif ! layer_ok "$mod" "$to" "$inc"; then
            echo "$f:$line: $mod must not include am/$inc.h ($to): dependencies point down" >&2
            fail=1
        fi
    done < <(grep -no '^#include "am/[a-z0-9_]*\.h"' "$f" | sed -E 's|^([0-9]+):#include "am/([a-z0-9_]+)\.h"|\1:\2|')
done

mapfile -t fmt < <(find src include tests/unit -type f \( -name '*.c' -o -name '*.h' \) \
    2>/dev/null | sort)
if [[ ${#fmt[@]} -gt 0 ]] && ! clang-format --dry-run -Werror "${fmt[@]}"; then
    echo "checksrc: clang-format differences above (run clang-format -i on those files)" >&2
    fail=1
fi

if [[ $fail -ne 0 ]]; then
    echo "checksrc: FAILED" >&2
    exit 1
fi
echo "checksrc: ok (${#code[@]} files scanned, ${#fmt[@]} format-checked)"
