#!/usr/bin/env bash
# The shipping checks that `make test` runs after the Swift tests (`make install-test`):
#
#   1. the static release binary links only system libraries and runs with the Swift
#      toolchain's folder hidden (a mount namespace with an empty tmpfs over it);
#   2. `make install DESTDIR=...` puts every expected file in place (binary, hook links, a man
#      page for every command, bash/zsh/fish completions, sysusers.d and tmpfiles.d entries
#      that systemd accepts), the installed binary works, and `make uninstall` removes it all;
#   3. `make deb` builds a package whose contents (`dpkg-deb -c`) and control fields
#      (`dpkg-deb -f`) are right, and which installs into a scratch root with `dpkg --root`
#      (maintainer scripts included: the qnet user appears there) and purges cleanly.
#
# Witnesses are independent of qnet: ldd, readelf, `ip -j`, man, bash, systemd-sysusers,
# dpkg. The list of commands comes from walking `qnet ... --help`, not from the man pages.
# Needs root (mount namespace, network namespace, dpkg --root); the host's own network
# interfaces, users and dpkg database are never touched. Ends with one summary line and
# exits 1 if any check failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
RELEASE_DIR=${RELEASE_DIR:-.build/release}
BIN=$REPO/$RELEASE_DIR/qnet

passed=0
failed=0
failures=()
pass() { passed=$((passed + 1)); echo "  ok    $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "  FAIL  $1" >&2; [ -z "${2:-}" ] || echo "$2" | sed 's/^/        /' >&2; }
# check DESCRIPTION COMMAND...: passes when the command succeeds; prints its output if not.
check() {
    local description=$1 output
    shift
    if output=$("$@" 2>&1); then pass "$description"; else fail "$description" "$output"; fi
}
section() { echo; echo "== $1"; }
abort() { echo "install-test: FAILED before finishing: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || abort "run as root (mount and network namespaces, dpkg --root)"
[ -x "$BIN" ] || abort "$BIN is missing: run \`make release\` first"
for tool in ldd readelf unshare ip man groff lexgrog zsh fish dpkg-deb dpkg lintian systemd-sysusers systemd-tmpfiles adduser python3; do
    command -v "$tool" >/dev/null || abort "missing $tool (make deps installs the test tools)"
done

WORK=$(mktemp -d /tmp/qnet-install-test.XXXXXX)
NETNS="qnit$$"
cleanup() {
    ip netns del "$NETNS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The toolchain's root (/opt/swift here): the folder that must not be needed at run time.
TOOLCHAIN=$(swiftc_path=$(command -v swiftc || command -v swift) && dirname "$(dirname "$(dirname "$(realpath "$swiftc_path")")")")
[ -n "$TOOLCHAIN" ] && [ -d "$TOOLCHAIN" ] || abort "cannot find the Swift toolchain's folder (swiftc on PATH)"
# The version the sources declare (QNet.version), the witness for `--version`.
EXPECTED_VERSION=$(sed -n 's/.*static let version = "\([^"]*\)".*/\1/p' Sources/QNetCommands/QNet.swift | head -n 1)
[ -n "$EXPECTED_VERSION" ] || abort "cannot read QNet.version from Sources/QNetCommands/QNet.swift"

# hidden COMMAND...: runs COMMAND in a private mount namespace where the toolchain's folder is
# an empty tmpfs, without LD_LIBRARY_PATH: what a machine without the toolchain sees.
hidden_run() {
    unshare --mount --propagation private sh -c 'mount -t tmpfs qnet-hidden "$0" && exec env -u LD_LIBRARY_PATH "$@"' "$TOOLCHAIN" "$@"
}
export -f hidden_run
export TOOLCHAIN

# Every command path of the CLI ("", "bridge", "bridge create", ...), found by walking the
# SUBCOMMANDS sections of `--help`.
command_paths() {
    local binary=$1 path=${2:-} sub
    echo "$path"
    # shellcheck disable=SC2086
    for sub in $("$binary" $path --help | awk '/^SUBCOMMANDS:/ { inside = 1; next } inside && /^  [a-z]/ { print $1 }'); do
        command_paths "$binary" "${path:+$path }$sub"
    done
}

# ---------------------------------------------------------------------------------------
section "static release binary ($RELEASE_DIR/qnet)"
libraries=$(ldd "$BIN" 2>&1)
check "ldd resolves every library" bash -c '! grep -q "not found" <<<"$1"' _ "$libraries"
check "ldd lists no library from the toolchain ($TOOLCHAIN)" bash -c '! grep -qF "$2" <<<"$1"' _ "$libraries" "$TOOLCHAIN"
check "ldd lists no Swift, Foundation, ICU or dispatch library" \
    bash -c '! grep -Eq "libswift|libFoundation|lib_Foundation|libicu|libdispatch|libBlocksRuntime" <<<"$1"' _ "$libraries"
check "libstdc++ is linked in, not loaded" bash -c '! grep -q "libstdc++" <<<"$1"' _ "$libraries"
check "every library ldd lists lives in /lib or /usr/lib" \
    bash -c 'awk "/=>/ { print \$3 } !/=>/ { print \$1 }" <<<"$1" | grep -v "^linux-vdso" | grep -Ev "^/(usr/)?lib(64|x32)?/" && exit 1 || exit 0' _ "$libraries"
check "no RPATH/RUNPATH into the toolchain" bash -c '! readelf -d "$1" | grep -E "R(UN)?PATH" | grep -qF "$2"' _ "$BIN" "$TOOLCHAIN"
echo "        ldd: $(awk '{ print $1 }' <<<"$libraries" | tr '\n' ' ')"
check "with $TOOLCHAIN hidden, the toolchain is really gone" bash -c '[ -z "$(unshare -m --propagation private sh -c "mount -t tmpfs x \"\$1\" && ls -A \"\$1\"" _ "$1")" ]' _ "$TOOLCHAIN"
version=$(hidden_run "$BIN" --version 2>&1)
check "with the toolchain hidden, \`qnet --version\` prints $EXPECTED_VERSION" test "$version" = "$EXPECTED_VERSION"

# ---------------------------------------------------------------------------------------
section "make install PREFIX=/usr/local DESTDIR=..."
STAGE=$WORK/stage
PREFIX=/usr/local
if output=$(make --no-print-directory install PREFIX=$PREFIX DESTDIR="$STAGE" 2>&1); then
    pass "make install succeeds"
else
    fail "make install succeeds" "$(tail -n 20 <<<"$output")"
fi
P=$STAGE$PREFIX
check "bin/qnet is an executable ELF file" bash -c '[ -x "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d " ")" = "177ELF" ]' _ "$P/bin/qnet"
check "bin/qnet is the release binary" cmp -s "$BIN" "$P/bin/qnet"
for hook in qemu-ifup qemu-ifdown; do
    check "libexec/qnet/$hook is a relative symlink to bin/qnet" \
        bash -c 'link=$(readlink "$1") && [ "${link#/}" = "$link" ] && [ "$(realpath "$1")" = "$(realpath "$2")" ]' _ "$P/libexec/qnet/$hook" "$P/bin/qnet"
done

check "libexec/qnet/qnet-bridge-helper is the release build, mode 0755 (not setuid)" \
    bash -c 'cmp -s "$1" "$2" && [ "$(stat -c %a "$2")" = 755 ]' _ "$REPO/$RELEASE_DIR/qnet-bridge-helper" "$P/libexec/qnet/qnet-bridge-helper"
check "libexec/qnet/qnet-bridge-helper has the file capability cap_net_admin+ep and nothing else" \
    bash -c 'getcap "$1" | grep -qE " cap_net_admin[=+]ep$"' _ "$P/libexec/qnet/qnet-bridge-helper"
check "bin/qnet has no file capability" bash -c '[ -z "$(getcap "$1")" ]' _ "$P/bin/qnet"
check "qnet-bridge-helper links only system libraries" bash -c '! ldd "$1" | grep -qiE "not found|swift|foundation|icu"' _ "$P/libexec/qnet/qnet-bridge-helper"
check "qnet-bridge-helper with a bad argument: an error naming it, exit status 2" \
    bash -c '"$1" --bogus 2>&1 | grep -q "unknown argument" ; "$1" --bogus 2>/dev/null; [ $? -eq 2 ]' _ "$P/libexec/qnet/qnet-bridge-helper"

# ArgumentParser adds `qnet help`, which --help does not list among the subcommands.
mapfile -t commands < <(command_paths "$BIN"; echo help)
check "the CLI has more than 30 commands to document (found ${#commands[@]})" test "${#commands[@]}" -gt 30
missing_pages=()
for path in "${commands[@]}"; do
    page="$P/share/man/man1/qnet${path:+.${path// /.}}.1"
    [ -s "$page" ] || missing_pages+=("$(basename "$page")")
done
check "a man page for each of the ${#commands[@]} commands in share/man/man1" test ${#missing_pages[@]} -eq 0
[ ${#missing_pages[@]} -eq 0 ] || echo "        missing: ${missing_pages[*]}" >&2
installed_pages=$(find "$P/share/man/man1" -name '*.1' | wc -l)
check "no man page for a command that does not exist ($installed_pages pages)" test "$installed_pages" -eq ${#commands[@]}
check "man renders qnet(1) with its subcommands" \
    bash -c 'out=$(MANWIDTH=100 man -l "$1" 2>&1) && grep -q "qnet-bridge(1)\|qnet.bridge(1)\|bridge" <<<"$out" && grep -q "^NAME" <<<"$out"' _ "$P/share/man/man1/qnet.1"
check "man finds \`qnet bridge create\` through MANPATH" \
    bash -c 'MANPATH="$1" MANWIDTH=100 man qnet.bridge.create 2>&1 | grep -q -- "--uplink"' _ "$P/share/man"
# (groff's "cannot adjust line" is a note about a long unbreakable word, not a problem.)
check "whatis can parse every page's NAME section (lexgrog)" \
    bash -c '! lexgrog "$1"/*.1 | grep "parse failed"' _ "$P/share/man/man1"
check "groff reports no problem in any page" \
    bash -c 'for f in "$1"/*.1; do w=$(groff -mandoc -ww -z "$f" 2>&1 | grep -v "cannot adjust line"); [ -z "$w" ] || { echo "$f: $w"; exit 1; }; done' _ "$P/share/man/man1"

bash_completion=$P/share/bash-completion/completions/qnet
check "bash completion in share/bash-completion/completions/qnet parses (no #! line: it is sourced)" \
    bash -c 'bash -n "$1" && ! head -n 1 "$1" | grep -q "^#!"' _ "$bash_completion"
check "bash completion completes \`qnet br\` to bridge" \
    bash -c 'source "$1" && COMP_WORDS=(qnet br) COMP_CWORD=1 COMP_LINE="qnet br" COMP_POINT=7 && _qnet qnet br qnet && [ "${COMPREPLY[*]}" = bridge ]' _ "$bash_completion"
check "bash completion completes \`qnet tap \` to its verbs" \
    bash -c 'source "$1" && COMP_WORDS=(qnet tap "") COMP_CWORD=2 COMP_LINE="qnet tap " COMP_POINT=9 && _qnet qnet "" tap && grep -qw create <<<"${COMPREPLY[*]}" && grep -qw list <<<"${COMPREPLY[*]}"' _ "$bash_completion"
check "zsh completion in share/zsh/site-functions/_qnet is a #compdef qnet function that parses" \
    bash -c '[ "$(head -n 1 "$1")" = "#compdef qnet" ] && zsh -n "$1"' _ "$P/share/zsh/site-functions/_qnet"
check "fish completion in share/fish/vendor_completions.d/qnet.fish parses and completes qnet" \
    bash -c 'fish --no-execute "$1" && grep -Eq "^complete -c '"'"'?qnet'"'"'? " "$1"' _ "$P/share/fish/vendor_completions.d/qnet.fish"
check "fish, loading it, completes \`qnet br\` to bridge" \
    bash -c 'mkdir -p "$2" && HOME="$2" fish --no-config -c "source $1; complete -C \"qnet br\"" | grep -q "^bridge"' _ "$P/share/fish/vendor_completions.d/qnet.fish" "$WORK/fish-home"

SYSROOT=$WORK/sysroot
mkdir -p "$SYSROOT/etc"
check "systemd-sysusers creates the qnet user (nologin, in kvm) from lib/sysusers.d/qnet.conf" \
    bash -c 'systemd-sysusers --root="$1" "$2" >/dev/null && grep -Eq "^qnet:x:[0-9]+:[0-9]+:[^:]*:[^:]*:/usr/sbin/nologin$" "$1/etc/passwd" && grep -Eq "^kvm:x:[0-9]+:(.*,)?qnet(,|$)" "$1/etc/group"' _ "$SYSROOT" "$P/lib/sysusers.d/qnet.conf"
check "systemd-tmpfiles creates /run/qnet 0755 from lib/tmpfiles.d/qnet.conf" \
    bash -c 'systemd-tmpfiles --create --root="$1" "$2" && [ "$(stat -c %a "$1/run/qnet")" = 755 ]' _ "$SYSROOT" "$P/lib/tmpfiles.d/qnet.conf"
check "lib/systemd/system/qnet.service runs \`$PREFIX/bin/qnet apply --boot\`, and systemd-analyze verify accepts it (pointed at the staged binary)" \
    bash -c 'grep -qx "ExecStart=$3/bin/qnet apply --boot" "$1" && sed "s|^ExecStart=$3/|ExecStart=$2/|" "$1" > "$4/qnet.service" && out=$(systemd-analyze verify --man=no "$4/qnet.service" 2>&1) && [ -z "$out" ] || { echo "$out"; exit 1; }' _ "$P/lib/systemd/system/qnet.service" "$P" "$PREFIX" "$WORK"

section "the installed binary, toolchain hidden"
version=$(hidden_run "$P/bin/qnet" --version 2>&1)
check "\`qnet --version\` prints $EXPECTED_VERSION" test "$version" = "$EXPECTED_VERSION"
check "\`qnet --help\` names every noun" bash -c 'out=$(hidden_run "$@") && for n in bridge tap show ifup ifdown vm net probe doctor; do grep -q "^  $n " <<<"$out" || exit 1; done' _ "$P/bin/qnet" --help
ip netns add "$NETNS" || abort "cannot create network namespace $NETNS"
ip -n "$NETNS" link add br0 type bridge && ip -n "$NETNS" link set br0 up || abort "cannot create br0 in $NETNS"
check "\`qnet --netns NS tap create nic0 --bridge br0\` makes a TAP on br0 (ip -j witness)" \
    bash -c 'hidden_run "$1" --netns "$2" tap create nic0 --bridge br0 >/dev/null && ip -j -n "$2" -d link show nic0 | python3 -c "import json,sys; l=json.load(sys.stdin)[0]; assert l[\"master\"]==\"br0\" and l[\"linkinfo\"][\"info_kind\"]==\"tun\", l"' _ "$P/bin/qnet" "$NETNS"
check "\`qnet --netns NS show br0 --json\` lists nic0 as a port of br0" \
    bash -c 'hidden_run "$1" --netns "$2" show br0 --json | python3 -c "import json,sys; d=json.load(sys.stdin); assert \"nic0\" in json.dumps(d), d"' _ "$P/bin/qnet" "$NETNS"
check "the qemu-ifdown link runs \`qnet ifdown\` (nic0 leaves br0)" \
    bash -c 'hidden_run "$1" --netns "$2" nic0 --bridge br0 && ! ip -j -n "$2" link show nic0 | grep -q "\"master\""' _ "$P/libexec/qnet/qemu-ifdown" "$NETNS"
check "the qemu-ifup link runs \`qnet ifup\` (nic0 joins br0 again)" \
    bash -c 'hidden_run "$1" --netns "$2" nic0 --bridge br0 && ip -j -n "$2" link show nic0 | grep -q "\"master\":\"br0\""' _ "$P/libexec/qnet/qemu-ifup" "$NETNS"
check "Foundation and Yams work statically linked (\`net create\`, then \`net list --json\`)" \
    bash -c 'hidden_run "$1" --netns "$2" --state-dir "$3" net create lab --mode isolated --subnet 10.213.7.0/24 >/dev/null && hidden_run "$1" --netns "$2" --state-dir "$3" net list --json | python3 -c "import json,sys; d=json.load(sys.stdin); assert \"10.213.7.0/24\" in json.dumps(d), d" && grep -q "10.213.7.0/24" "$3"/lib/networks/lab.yaml' _ "$P/bin/qnet" "$NETNS" "$WORK/state"
check "a bad option is one line and exit status 2" \
    bash -c 'out=$(hidden_run "$1" tap create nic1 --mtu abc 2>&1); status=$?; [ $status -eq 2 ] && grep -q "mtu" <<<"$out"' _ "$P/bin/qnet"
ip netns del "$NETNS"

if output=$(make --no-print-directory uninstall PREFIX=$PREFIX DESTDIR="$STAGE" 2>&1); then
    pass "make uninstall succeeds"
else
    fail "make uninstall succeeds" "$output"
fi
left=$(find "$STAGE" \( -type f -o -type l \) 2>/dev/null)
check "make uninstall leaves no file or link behind" test -z "$left"
[ -z "$left" ] || echo "$left" | sed 's/^/        left: /' >&2

section "make install PREFIX=/usr (Debian's paths)"
STAGE_USR=$WORK/stage-usr
if output=$(make --no-print-directory install PREFIX=/usr DESTDIR="$STAGE_USR" 2>&1); then
    pass "make install PREFIX=/usr succeeds"
else
    fail "make install PREFIX=/usr succeeds" "$(tail -n 20 <<<"$output")"
fi
check "zsh completion goes to share/zsh/vendor-completions (Debian's zsh fpath)" test -s "$STAGE_USR/usr/share/zsh/vendor-completions/_qnet"
check "sysusers.d and tmpfiles.d go to /usr/lib" test -s "$STAGE_USR/usr/lib/sysusers.d/qnet.conf" -a -s "$STAGE_USR/usr/lib/tmpfiles.d/qnet.conf"

# ---------------------------------------------------------------------------------------
section "make deb"
rm -f .build/qnet_*.deb
if output=$(make --no-print-directory deb 2>&1); then
    pass "make deb succeeds"
else
    fail "make deb succeeds" "$(tail -n 20 <<<"$output")"
fi
ARCH=$(dpkg --print-architecture)
DEB=.build/qnet_${EXPECTED_VERSION}_${ARCH}.deb
[ -f "$DEB" ] || abort "make deb made no $DEB"
field() { dpkg-deb -f "$DEB" "$1"; }
check "Package: qnet" test "$(field Package)" = qnet
check "Version: $EXPECTED_VERSION" test "$(field Version)" = "$EXPECTED_VERSION"
check "Architecture: $ARCH" test "$(field Architecture)" = "$ARCH"
check "Maintainer is a name and an address" bash -c '[[ $1 =~ ^[^\<]+\ \<[^@]+@[^\>]+\>$ ]]' _ "$(field Maintainer)"
check "Installed-Size is the unpacked size in KiB" bash -c '[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 1000 ]' _ "$(field Installed-Size)"
depends=$(field Depends)
for package in libc6 qemu-system-x86 qemu-utils dnsmasq-base nftables adduser libcap2-bin; do
    check "Depends names $package" bash -c 'tr "," "\n" <<<"$1" | tr "|" "\n" | awk "{ print \$1 }" | grep -qx "$2"' _ "$depends" "$package"
done
for package in iproute2 bridge-utils uml-utilities net-tools; do
    check "Depends does not name $package (qnet never runs it)" bash -c '! tr ",|" "\n\n" <<<"$1" | awk "{ print \$1 }" | grep -qx "$2"' _ "$depends" "$package"
done
check "Depends has no Swift or C++ library (the runtime and libstdc++ are inside)" bash -c '! grep -qi "swift\|libicu\|foundation\|libstdc++" <<<"$1"' _ "$depends"
check "lintian reports no error or warning (overrides carry their reasons)" \
    bash -c 'lintian --fail-on error,warning --suppress-tags spelling-error-in-binary "$1" 2>&1 | grep -v "privileges is not recommended"; exit "${PIPESTATUS[0]}"' _ "$DEB"
check "Recommends passt" bash -c 'tr ", " "\n\n" <<<"$1" | grep -qx passt' _ "$(field Recommends)"
check "Description has a synopsis and a long text" bash -c '[ "$(wc -l <<<"$1")" -gt 3 ]' _ "$(field Description)"

contents=$(dpkg-deb -c "$DEB")
paths=$(awk '{ print $6 }' <<<"$contents" | sed 's|^\./|/|')
has() { grep -qx -- "$1" <<<"$paths"; }
check "contains /usr/bin/qnet, mode 0755 root/root" bash -c 'grep -Eq "^-rwxr-xr-x root/root .* \./usr/bin/qnet$" <<<"$1"' _ "$contents"
for hook in qemu-ifup qemu-ifdown; do
    check "contains /usr/libexec/qnet/$hook -> ../../bin/qnet" bash -c 'grep -q "\./usr/libexec/qnet/$2 -> \.\./\.\./bin/qnet$" <<<"$1"' _ "$contents" "$hook"
done
check "contains /usr/libexec/qnet/qnet-bridge-helper, mode 0755 root/root (not setuid)" \
    bash -c 'grep -Eq "^-rwxr-xr-x root/root .* \./usr/libexec/qnet/qnet-bridge-helper$" <<<"$1"' _ "$contents"
missing_pages=()
for path in "${commands[@]}"; do
    page="/usr/share/man/man1/qnet${path:+.${path// /.}}.1.gz"
    has "$page" || missing_pages+=("$(basename "$page")")
done
check "contains a gzip'd man page for each of the ${#commands[@]} commands" test ${#missing_pages[@]} -eq 0
[ ${#missing_pages[@]} -eq 0 ] || echo "        missing: ${missing_pages[*]}" >&2
for file in /usr/share/bash-completion/completions/qnet /usr/share/zsh/vendor-completions/_qnet \
    /usr/share/fish/vendor_completions.d/qnet.fish /usr/lib/sysusers.d/qnet.conf /usr/lib/tmpfiles.d/qnet.conf \
    /usr/share/doc/qnet/copyright /usr/share/doc/qnet/changelog.gz; do
    check "contains $file" has "$file"
done
check "every file is owned by root/root" bash -c '! awk "{ print \$2 }" <<<"$1" | grep -vqx root/root' _ "$contents"
check "nothing under /usr/local" bash -c '! grep -q "^/usr/local" <<<"$1"' _ "$paths"
CONTROL=$WORK/control
dpkg-deb -e "$DEB" "$CONTROL"
for script in postinst postrm; do
    check "$script is an executable sh script that parses" bash -c '[ -x "$1" ] && sh -n "$1"' _ "$CONTROL/$script"
done
check "md5sums match the packaged files" bash -c 'mkdir -p "$2" && dpkg-deb -x "$1" "$2" && cd "$2" && md5sum --quiet -c "$3"' _ "$DEB" "$WORK/extract" "$CONTROL/md5sums"
check "the packaged binary is stripped" bash -c '! readelf -S "$1" | grep -q "\.symtab"' _ "$WORK/extract/usr/bin/qnet"
version=$(hidden_run "$WORK/extract/usr/bin/qnet" --version 2>&1)
check "the packaged (stripped) binary runs with the toolchain hidden" test "$version" = "$EXPECTED_VERSION"
check "the packaged binary's --help still works (stripping kept Swift metadata)" bash -c 'hidden_run "$1" vm run --help | grep -q -- "--nic"' _ "$WORK/extract/usr/bin/qnet"

section "dpkg --root: install, maintainer scripts, purge (a scratch root)"
ROOT=$WORK/root
host_fingerprint() { cat /etc/passwd /etc/group /var/lib/dpkg/status | md5sum; }
HOST_BEFORE=$(host_fingerprint)
mkdir -p "$ROOT/etc" "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/var/lib/dpkg/triggers"
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
DPKG=(dpkg --root="$ROOT" --force-script-chrootless --force-depends --log=/dev/null)
if output=$("${DPKG[@]}" -i "$DEB" 2>&1); then pass "dpkg -i into the scratch root"; else fail "dpkg -i into the scratch root" "$output"; fi
check "dpkg says qnet is installed" bash -c 'dpkg-query --admindir="$1/var/lib/dpkg" -W -f="\${Status}" qnet | grep -qx "install ok installed"' _ "$ROOT"
check "postinst created the qnet user in the scratch root (systemd-sysusers)" grep -q "^qnet:" "$ROOT/etc/passwd"
check "postinst gave qnet-bridge-helper cap_net_admin+ep (getcap)" \
    bash -c 'getcap "$1" | grep -qE " cap_net_admin[=+]ep$"' _ "$ROOT/usr/libexec/qnet/qnet-bridge-helper"
# The fallback without systemd, on a private copy of /etc (a mount namespace where
# systemd-sysusers and systemd-tmpfiles are hidden and /etc is the copy): adduser makes the
# user there, and /run/qnet is made with mkdir.
check "without systemd-sysusers, postinst makes the qnet user with adduser (in kvm when it exists)" \
    unshare --mount --propagation private bash -c '
        set -e
        cp -a /etc "$1/etc-copy" && mount --bind "$1/etc-copy" /etc
        mount --bind /dev/null "$(command -v systemd-sysusers)"
        mount --bind /dev/null "$(command -v systemd-tmpfiles)"
        # Forget any qnet user in the copy (userdel refuses while a process runs as qnet).
        sed -i "/^qnet:/d" /etc/passwd /etc/shadow /etc/group /etc/gshadow
        for file in /etc/group /etc/gshadow; do
            awk -F: -v OFS=: "{ n = split(\$NF, m, \",\"); l = \"\"; for (i = 1; i <= n; i++) if (m[i] != \"qnet\") l = l (l == \"\" ? \"\" : \",\") m[i]; \$NF = l; print }" "$file" > "$file.new"
            cat "$file.new" > "$file" && rm "$file.new"
        done
        if getent passwd qnet >/dev/null; then echo "qnet is still in the copy of /etc"; exit 1; fi
        sh "$2" configure >/dev/null
        getent passwd qnet | grep -q ":/usr/sbin/nologin$"
        ! getent group kvm >/dev/null || id -nG qnet | grep -qw kvm' _ "$WORK" "$CONTROL/postinst"
check "the host's passwd, group and dpkg status are untouched" test "$(host_fingerprint)" = "$HOST_BEFORE"
check "man -M finds qnet(1) in the scratch root" bash -c 'MANWIDTH=100 man -M "$1/usr/share/man" qnet 2>&1 | grep -q "^NAME"' _ "$ROOT"
mkdir -p "$ROOT/var/lib/qnet/networks" && echo "name: lab" > "$ROOT/var/lib/qnet/networks/lab.yaml"
if output=$("${DPKG[@]}" --purge qnet 2>&1); then pass "dpkg --purge qnet"; else fail "dpkg --purge qnet" "$output"; fi
left=$(find "$ROOT/usr" \( -type f -o -type l \) 2>/dev/null)
check "purge removed every packaged file" test -z "$left"
check "purge removed /var/lib/qnet" test ! -e "$ROOT/var/lib/qnet"

# ---------------------------------------------------------------------------------------
echo
if [ "$failed" -eq 0 ]; then
    echo "install-test: PASS — $passed checks passed"
else
    echo "install-test: FAIL — $failed of $((passed + failed)) checks failed:" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
