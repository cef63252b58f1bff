#!/usr/bin/env bash
# check.sh - the Debian package (cmake/Package.cmake) without installing it
# on this system: control fields and file list (dpkg-deb), the files
# extracted into a scratch root (dpkg-deb -x) compared with the source tree,
# the extracted binary run against the extracted config and price table,
# the packaged unit through systemd-analyze (verify, security), the
# maintainer scripts run with DPKG_ROOT=scratch and stub commands (user,
# directories, systemd calls, purge), and lintian: no error or warning, and
# only the informational tags justified in docs/guides/packaging.md.
# Usage: tests/package/check.sh [BUILD_DIR]   (the .deb must be built:
#        cmake --build BUILD_DIR --target package)
# Prints "N passed, N failed" last; exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${1:-build}
[[ $build = /* ]] || build=$root/$build
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentmeter-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

pass() { passed=$((passed + 1)); echo "  ok    $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL  $*"; }
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name"; sed 's/^/        /' <<<"$out" | tail -30; fi
}
finish() {
    echo
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]]
    exit
}

version=$(sed -nE 's/^project\(agentmeter VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
arch=$(dpkg --print-architecture)
deb=$build/agentmeter_${version}_${arch}.deb
echo "== $deb"
if [[ ! -f $deb ]]; then
    fail "$deb not built (cmake --build $build --target package)"
    finish
fi

field() { dpkg-deb -f "$deb" "$1"; }
check "Package: agentmeter" test "$(field Package)" = agentmeter
check "Version: $version" test "$(field Version)" = "$version"
check "Architecture: $arch" test "$(field Architecture)" = "$arch"
check "Section: net, Priority: optional" test "$(field Section)/$(field Priority)" = net/optional
check "Depends names adduser and the shared libraries (dpkg-shlibdeps)" \
    bash -c "grep -q 'adduser' <<<'$(field Depends)' && grep -q 'libc6 (>=' <<<'$(field Depends)' && grep -q 'libssl3' <<<'$(field Depends)'"
check "Description has a synopsis and a body" \
    bash -c "[[ \$(dpkg-deb -f '$deb' Description | wc -l) -gt 3 ]]"

echo "== contents"
dpkg-deb -c "$deb" >"$tmp/list"
for p in ./usr/bin/agentmeter ./usr/bin/agentmeter-loadgen ./lib/systemd/system/agentmeter.service \
    ./etc/agentmeter/agentmeter.yaml ./usr/share/agentmeter/pricing.yaml \
    ./usr/share/agentmeter/deploy/prometheus/rules/agentmeter.rules.yml \
    ./usr/share/agentmeter/deploy/grafana/dashboards/agentmeter.json \
    ./usr/share/agentmeter/deploy/scale-out/otelcol/loadbalancer-k8s.yaml \
    ./usr/share/agentmeter/deploy/kubernetes/kustomization.yaml \
    ./usr/share/doc/agentmeter/copyright ./usr/share/doc/agentmeter/changelog.gz \
    ./usr/share/man/man1/agentmeter.1.gz; do
    check "ships $p" grep -qE " $p\$" "$tmp/list"
done
check "every file owned by root:root" bash -c "! awk '\$2 != \"root/root\"' '$tmp/list' | grep -q ."
check "binaries 0755, everything else 0644 or a directory" bash -c "
    awk '\$6 ~ /^\.\/usr\/bin\/./ && \$1 != \"-rwxr-xr-x\" { print; bad = 1 }
         \$6 !~ /^\.\/usr\/bin\/./ && \$1 !~ /^d/ && \$1 != \"-rw-r--r--\" { print; bad = 1 }
         END { exit bad }' '$tmp/list'"

echo "== control scripts"
dpkg-deb -e "$deb" "$tmp/ctl"
check "conffiles is /etc/agentmeter/agentmeter.yaml" test "$(cat "$tmp/ctl/conffiles")" = /etc/agentmeter/agentmeter.yaml
for s in postinst prerm postrm; do
    check "$s is executable and parses (sh -n)" bash -c "test -x '$tmp/ctl/$s' && sh -n '$tmp/ctl/$s'"
done

echo "== extracted into a scratch root (dpkg-deb -x)"
r=$tmp/root
dpkg-deb -x "$deb" "$r"
check "/etc/agentmeter/agentmeter.yaml is deploy/agentmeter.yaml" cmp "$r/etc/agentmeter/agentmeter.yaml" deploy/agentmeter.yaml
check "/usr/share/agentmeter/pricing.yaml is deploy/pricing.yaml" cmp "$r/usr/share/agentmeter/pricing.yaml" deploy/pricing.yaml
for d in deploy/*/; do
    d=$(basename "$d")
    check "deploy kit: $d identical" diff -r "deploy/$d" "$r/usr/share/agentmeter/deploy/$d"
done
check "agentmeter --version says $version" bash -c "[[ \$('$r/usr/bin/agentmeter' --version) == 'agentmeter $version' ]]"
check "the packaged binary accepts the packaged config" "$r/usr/bin/agentmeter" --check-config "$r/etc/agentmeter/agentmeter.yaml"
printf 'pricing:\n  builtin: false\n  file: %s\n' "$r/usr/share/agentmeter/pricing.yaml" >"$tmp/prices.yaml"
check "the packaged binary loads the packaged price table" "$r/usr/bin/agentmeter" --check-config "$tmp/prices.yaml"
check "shared libraries all resolve" bash -c "! ldd '$r/usr/bin/agentmeter' | grep -q 'not found'"
check "binaries stripped, no .comment, full RELRO + BIND_NOW" bash -c "
    for b in agentmeter agentmeter-loadgen; do
        f='$r/usr/bin/'\$b
        ! readelf -S \$f | grep -qE '\.symtab|\.comment' || exit 1
        readelf -d \$f | grep -q BIND_NOW || exit 1
        readelf -l \$f | grep -q GNU_RELRO || exit 1
    done"
if command -v man >/dev/null; then
    check "man pages render" bash -c "MANWIDTH=80 man -l '$r/usr/share/man/man1/agentmeter.1.gz' >/dev/null"
fi

echo "== the packaged unit"
unit=$r/lib/systemd/system/agentmeter.service
check "ExecStart=/usr/bin/agentmeter, static user agentmeter" bash -c "
    grep -q '^ExecStart=/usr/bin/agentmeter --config /etc/agentmeter/agentmeter.yaml\$' '$unit' &&
    grep -q '^User=agentmeter\$' '$unit' && ! grep -q '^DynamicUser' '$unit'"
for key in NoNewPrivileges=yes ProtectSystem=strict 'StateDirectory=agentmeter agentmeter/state agentmeter/wal'; do
    check "unit keeps $key" grep -q "^$key" "$unit"
done
if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/bin/agentmeter#$r/usr/bin/agentmeter#g" "$unit" >"$tmp/agentmeter.service"
    check "systemd-analyze verify (packaged unit)" systemd-analyze verify "$tmp/agentmeter.service"
    exposure=$(systemd-analyze security --offline=true "$tmp/agentmeter.service" 2>/dev/null |
        sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
    if [[ -n "$exposure" ]] && awk -v e="$exposure" 'BEGIN { exit !(e < 2.0) }'; then
        pass "systemd-analyze security exposure $exposure < 2.0 (packaged unit)"
    else
        fail "systemd-analyze security exposure '${exposure:-unknown}' (want < 2.0)"
    fi
fi

echo "== maintainer scripts (DPKG_ROOT=scratch root, stub commands)"
stubs=$tmp/stubs
mkdir -p "$stubs"
log=$tmp/calls.log
for c in addgroup adduser chown deb-systemd-helper deb-systemd-invoke systemctl; do
    printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$c" "$log" >"$stubs/$c"
done
# A first install: the unit was never enabled before.
printf 'case "$*" in *was-enabled*) exit 1 ;; esac\n' >>"$stubs/deb-systemd-helper"
# getent: the user exists once $tmp/user-exists does.
printf '#!/bin/sh\n[ -e "%s" ]\n' "$tmp/user-exists" >"$stubs/getent"
chmod +x "$stubs"/*
run() { env -i PATH="$stubs:/usr/bin:/bin" DPKG_ROOT="$r" sh "$tmp/ctl/$1" "${@:2}"; }
: >"$log"
check "postinst configure exits 0" run postinst configure
check "postinst creates the system group and user" bash -c "
    grep -qx 'addgroup --system --quiet agentmeter' '$log' &&
    grep -q '^adduser --system --quiet --ingroup agentmeter --no-create-home --home /var/lib/agentmeter --shell /usr/sbin/nologin .* agentmeter\$' '$log'"
check "postinst makes /var/lib/agentmeter/{state,wal} 0750, owned by agentmeter" bash -c "
    for d in '' /state /wal; do
        [[ \$(stat -c %a '$r/var/lib/agentmeter'\$d) == 750 ]] || exit 1
        grep -qx \"chown agentmeter:agentmeter $r/var/lib/agentmeter\$d\" '$log' || exit 1
    done"
check "postinst enables the unit, and calls no systemctl into another root" bash -c "
    grep -q '^deb-systemd-helper update-state agentmeter.service' '$log' &&
    ! grep -q '^systemctl\|^deb-systemd-invoke' '$log'"
touch "$tmp/user-exists" "$r/var/lib/agentmeter/state/keep"
: >"$log"
check "postinst again (upgrade): no second user, state kept" bash -c "
    env -i PATH='$stubs:/usr/bin:/bin' DPKG_ROOT='$r' sh '$tmp/ctl/postinst' configure $version &&
    ! grep -q '^add' '$log' && [[ -e '$r/var/lib/agentmeter/state/keep' ]]"
check "prerm remove exits 0" run prerm remove
check "postrm remove keeps the state" bash -c "
    env -i PATH='$stubs:/usr/bin:/bin' DPKG_ROOT='$r' sh '$tmp/ctl/postrm' remove &&
    [[ -e '$r/var/lib/agentmeter/state/keep' ]]"
check "postrm purge removes /var/lib/agentmeter" bash -c "
    env -i PATH='$stubs:/usr/bin:/bin' DPKG_ROOT='$r' sh '$tmp/ctl/postrm' purge &&
    [[ ! -e '$r/var/lib/agentmeter' ]] && grep -q '^deb-systemd-helper purge agentmeter.service' '$log'"

echo "== lintian"
if command -v lintian >/dev/null; then
    lintian --info --display-info --pedantic --no-tag-display-limit "$deb" >"$tmp/lintian" 2>&1
    # Allowed: the tags in the table of docs/guides/packaging.md, section lintian.
    allowed=$(sed -nE '/^## lintian/,/^## /s/^\| `([a-z0-9.+-]+)` \|.*/\1/p' docs/guides/packaging.md)
    bad=$(grep -E '^[EWX]: ' "$tmp/lintian" || true)
    if [[ -z "$bad" ]]; then pass "lintian: no error or warning"; else fail "lintian: $bad"; fi
    other=$(grep -E '^[IP]: ' "$tmp/lintian" | awk '{ print $3 }' | sort -u | grep -vxF "${allowed:-none}" || true)
    if [[ -z "$other" ]]; then
        pass "lintian: informational tags all justified in docs/guides/packaging.md ($(grep -cE '^[IP]: ' "$tmp/lintian"))"
    else
        fail "lintian: unjustified tags: $other"
    fi
else
    fail "lintian not installed (Debian package lintian; scripts/install-deps.sh --test)"
fi
finish
