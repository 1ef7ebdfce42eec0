#!/usr/bin/env bash
# Turns a `make install PREFIX=/usr DESTDIR=ROOT` tree into a Debian package with dpkg-deb.
#
#   packaging/build-deb.sh ROOT OUTDIR      (what `make deb` runs)
#
# Adds what Debian wants on top of the install: stripped executables, gzip'd man pages,
# /usr/share/doc/qnet/{copyright,changelog.gz}, lintian overrides (each with its reason),
# DEBIAN/{control,postinst,postrm,md5sums}.
#
# Depends, from what qnet itself starts (grep Sources for the program names):
#   qemu-system-x86   qemu-system-x86_64 for `vm run`, `probe`, `demo`, the KVM check
#   qemu-utils        qemu-img for `disk create --format qcow2` and `disk info`
#   dnsmasq-base      DHCP/DNS of NAT and isolated networks (`net start`, `demo`)
#   nftables          nft for the NAT/isolated firewall (`table inet qnet`)
#   adduser           the postinst makes the qnet user with systemd-sysusers when it is
#                     there, else with adduser (present on nearly every Debian system)
#   libc6, libgcc-s1  what dpkg-shlibdeps finds in the binaries (the Swift runtime and
#                     libstdc++ are linked in)
# Recommends passt (`--nic user,backend=passt`) and busybox-static (`guest build`, `probe`);
# Suggests iperf3 (put into the probe image when installed) and graphviz (`show --graph`
# draws SVG/PNG with its dot; without it qnet prints DOT text). Not iproute2, bridge-utils or
# uml-utilities: qnet never runs ip, brctl or tunctl.
set -euo pipefail

die() { echo "packaging/build-deb.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: packaging/build-deb.sh ROOT OUTDIR"
root=$1
outdir=$2
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$root/usr/bin/qnet" ] || die "$root/usr/bin/qnet is missing: run \`make install PREFIX=/usr DESTDIR=$root\` first"
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install dpkg-dev binutils gzip)"
done

version=${DEB_VERSION:-$("$root/usr/bin/qnet" --version)}
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "'$version' is not a Debian version (set DEB_VERSION)"
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-$(git -C "$here/.." log -1 --format='%an <%ae>' 2>/dev/null || echo 'qnet maintainers <root@localhost>')}

# Executables: every ELF file under usr/bin and usr/libexec, stripped as dh_strip does.
mapfile -t executables < <(find "$root/usr/bin" "$root/usr/libexec" -type f -perm -u+x 2>/dev/null | sort)
elves=()
for file in "${executables[@]}"; do
    if [ "$(head -c 4 "$file" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        strip --remove-section=.comment --remove-section=.note --strip-unneeded "$file"
        elves+=("$file")
    fi
done
[ ${#elves[@]} -gt 0 ] || die "no executables under $root/usr/bin"

# Man pages compressed (Debian policy 12.1), with no timestamp in the gzip header.
find "$root/usr/share/man" -type f -name '*.[1-9]' -exec gzip -9n {} +

doc=$root/usr/share/doc/qnet
install -d "$doc"
install -m 0644 "$here/debian/copyright" "$doc/copyright"
install -D -m 0644 "$here/debian/lintian-overrides" "$root/usr/share/lintian/overrides/qnet"
{
    echo "qnet ($version) unstable; urgency=medium"
    echo
    echo "  * Built from $(git -C "$here/.." describe --always --dirty 2>/dev/null || echo 'a source tree without git')."
    echo
    echo " -- $maintainer  $(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$here/.." log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Shared-library dependencies of the binaries (dpkg-shlibdeps wants a debian/control).
shlibs_dir=$(mktemp -d)
trap 'rm -rf "$shlibs_dir"' EXIT
mkdir -p "$shlibs_dir/debian"
printf 'Source: qnet\n\nPackage: qnet\nArchitecture: any\n' > "$shlibs_dir/debian/control"
abs_elves=()
for file in "${elves[@]}"; do abs_elves+=("$(realpath "$file")"); done
shlibs=$(cd "$shlibs_dir" && dpkg-shlibdeps -O "${abs_elves[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no library dependencies for ${elves[*]}"

install -d -m 0755 "$root/DEBIAN"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@SHLIBS_DEPENDS@|$shlibs|" \
    "$here/debian/control.in" > "$root/DEBIAN/control"
install -m 0755 "$here/debian/postinst" "$here/debian/postrm" "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs -r md5sum) \
    > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb="$outdir/qnet_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "built $deb ($(du -h "$deb" | cut -f1))"
