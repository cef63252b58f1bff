#!/usr/bin/env bash
# checksrc.sh - the source rules a compiler cannot enforce (STYLE.md 5.8):
#   1. no sprintf strcpy strcat strtok atoi atol gets in src/ and include/;
#   2. no raw malloc calloc realloc free outside src/core/alloc.c;
#   3. clang-format --dry-run -Werror over src/ include/ tests/unit/.
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
