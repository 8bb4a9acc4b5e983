#!/usr/bin/env bash
# test-package BUILD_DIR: builds the Debian package with cpack into a temporary directory and
# inspects it with dpkg-deb (no installation, no root): every binary in /usr/bin and
# executable, the units with ExecStart=/usr/bin/..., /etc/ovop/ovop.env a conffile, the
# libraries' packages in Depends (dpkg-shlibdeps), the sysusers file, the maintainer scripts;
# and the extracted ovopctl runs.
set -euo pipefail

build=${1:?usage: test-package.sh BUILD_DIR}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ovop-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    fails=$((fails + 1))
}

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1 || {
    cat "$tmp/cpack.log" >&2
    echo "FAIL: cpack" >&2
    exit 1
}
shopt -s nullglob
debs=("$tmp"/out/ovop_*.deb)
[[ ${#debs[@]} -eq 1 ]] || {
    ls -l "$tmp/out" >&2
    echo "FAIL: expected one ovop_*.deb, found ${#debs[@]}" >&2
    exit 1
}
deb=${debs[0]}
echo "package: $(basename "$deb")"

info=$(dpkg-deb --info "$deb")
depends=$(dpkg-deb --field "$deb" Depends)
echo "Depends: $depends"
[[ $(dpkg-deb --field "$deb" Package) == ovop ]] || fail "Package is not ovop"
[[ -n $(dpkg-deb --field "$deb" Version) ]] || fail "no Version"
for lib in libzmq5 libpq5 libuv1 libprotobuf-c1 libcurl4 libssl3 libjansson4 \
    libmicrohttpd12 postgresql-client; do
    # A package name as a whole word of Depends (libcurl4 must not match libcurl4-gnutls).
    grep -Eq "(^|[ ,|])${lib}([ ,(|]|$)" <<<"$depends" || fail "Depends lacks $lib"
done

contents=$(dpkg-deb --contents "$deb")
dpkg-deb -x "$deb" "$tmp/root"
root=$tmp/root
for bin in ovop-broker ovop-registryd ovop-exportd ovop-matchd ovop-notifyd ovopctl; do
    [[ -f $root/usr/bin/$bin && -x $root/usr/bin/$bin ]] || fail "/usr/bin/$bin missing or not executable"
    grep -q " \./usr/bin/$bin\$" <<<"$contents" || fail "contents lack ./usr/bin/$bin"
done
[[ -x $root/usr/sbin/ovop-setup ]] || fail "/usr/sbin/ovop-setup missing or not executable"
[[ -f $root/usr/share/bash-completion/completions/ovopctl ]] ||
    fail "the bash completion of ovopctl is missing"
# A manual page per binary, made from its --help: it must name the binary's options.
for bin in ovop-broker ovop-registryd ovop-exportd ovop-matchd ovop-notifyd ovop-programd ovopctl; do
    page=$root/usr/share/man/man1/$bin.1.gz
    [[ -f $page ]] || fail "manual page $bin.1.gz missing"
    zcat "$page" | grep -q -- 'broker' || fail "manual page of $bin does not list its options"
    zcat "$page" | grep -q '^\.TH' || fail "manual page of $bin is not a man page"
done

units=(ovop-broker.service ovop-registryd@.service ovop-exportd@.service ovop-matchd@.service
    ovop-notifyd@.service ovop-migrate.service ovop.target)
for unit in "${units[@]}"; do
    f=$root/lib/systemd/system/$unit
    [[ -f $f ]] || {
        fail "unit $unit missing"
        continue
    }
    ! grep -q /usr/local "$f" || fail "$unit still names /usr/local"
done
for pair in ovop-broker.service:/usr/bin/ovop-broker ovop-registryd@.service:/usr/bin/ovop-registryd \
    ovop-exportd@.service:/usr/bin/ovop-exportd ovop-matchd@.service:/usr/bin/ovop-matchd \
    ovop-notifyd@.service:/usr/bin/ovop-notifyd ovop-migrate.service:/usr/sbin/ovop-setup; do
    unit=${pair%%:*} exe=${pair#*:}
    grep -q "^ExecStart=$exe\( \|\$\)" "$root/lib/systemd/system/$unit" 2>/dev/null ||
        fail "$unit: no ExecStart=$exe"
    [[ -x $root$exe ]] || fail "$unit: $exe not in the package"
done

sysusers=$root/usr/lib/sysusers.d/ovop.conf
for user in ovop-broker ovop-registryd ovop-exportd ovop-matchd ovop-notifyd ovop-migrate; do
    grep -Eq "^u[[:space:]]+${user}[[:space:]]" "$sysusers" 2>/dev/null || fail "sysusers lacks $user"
done
# programd: its binary, its unit starting it, its user.
[[ -x $root/usr/bin/ovop-programd ]] || fail "/usr/bin/ovop-programd missing or not executable"
grep -q "^ExecStart=/usr/bin/ovop-programd\( \|\$\)" \
    "$root/lib/systemd/system/ovop-programd@.service" 2>/dev/null ||
    fail "ovop-programd@.service missing or without ExecStart=/usr/bin/ovop-programd"
grep -Eq "^u[[:space:]]+ovop-programd[[:space:]]" "$sysusers" 2>/dev/null ||
    fail "sysusers lacks ovop-programd"
# Every User= of a unit is a user the package creates.
for f in "$root"/lib/systemd/system/*.service; do
    u=$(sed -n 's/^User=//p' "$f")
    [[ -z $u ]] || grep -Eq "^u[[:space:]]+${u}[[:space:]]" "$sysusers" 2>/dev/null ||
        fail "$(basename "$f"): User=$u not in sysusers"
done

[[ -f $root/etc/ovop/ovop.env ]] || fail "/etc/ovop/ovop.env missing"
[[ -f $root/usr/share/doc/ovop/README.md ]] || fail "README missing"
mkdir "$tmp/ctl"
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp/ctl"
grep -qx /etc/ovop/ovop.env "$tmp/ctl/conffiles" 2>/dev/null || fail "conffiles lacks /etc/ovop/ovop.env"
[[ -x $tmp/ctl/postinst ]] || fail "no executable postinst"
grep -q systemd-sysusers "$tmp/ctl/postinst" 2>/dev/null || fail "postinst does not run systemd-sysusers"
! grep -Eq 'systemctl.*(start|enable|restart)' "$tmp/ctl/postinst" || fail "postinst starts services"
grep -q 'conffiles' <<<"$info" || fail "dpkg-deb --info lists no conffiles"

out=$("$root/usr/bin/ovopctl" --help 2>&1) || fail "extracted ovopctl --help exited $?"
grep -qi usage <<<"$out" || fail "extracted ovopctl --help printed no usage"

# ovop-backup: the script, its unit (ExecStart in /usr/sbin, nothing left in /usr/local), its
# timer and its user.
[[ -x $root/usr/sbin/ovop-backup ]] || fail "/usr/sbin/ovop-backup missing or not executable"
"$root/usr/sbin/ovop-backup" base --help >/dev/null 2>&1 || fail "extracted ovop-backup base --help failed"
grep -q '^ExecStart=/usr/sbin/ovop-backup base$' "$root/lib/systemd/system/ovop-backup.service" 2>/dev/null ||
    fail "ovop-backup.service: no ExecStart=/usr/sbin/ovop-backup base"
! grep -q /usr/local "$root/lib/systemd/system/ovop-backup.service" 2>/dev/null ||
    fail "ovop-backup.service still names /usr/local"
grep -q '^OnCalendar=' "$root/lib/systemd/system/ovop-backup.timer" 2>/dev/null || fail "ovop-backup.timer missing"
grep -Eq '^u[[:space:]]+ovop-backup[[:space:]]' "$sysusers" 2>/dev/null || fail "sysusers lacks ovop-backup"

if ((fails)); then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "package OK"
