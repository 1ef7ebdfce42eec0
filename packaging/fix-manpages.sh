#!/usr/bin/env bash
# Post-processes the mdoc pages swift-argument-parser's generate-manual writes (one per
# command, qnet.bridge.create.1 ...), in place:
#   - a blank line (multi-paragraph discussions) becomes .Pp: groff warns about empty
#     input lines in mdoc;
#   - the NAME section names a subcommand's page as its file does (qnet.bridge.create):
#     whatis/apropos (lexgrog, and lintian's bad-whatis-entry) cannot parse a name with
#     spaces. The SYNOPSIS keeps the command as typed ("qnet bridge create").
#
#   packaging/fix-manpages.sh DIR
set -euo pipefail
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: packaging/fix-manpages.sh DIR" >&2; exit 2; }
for page in "$1"/*.[1-9]; do
    awk '
        /^$/ { print ".Pp"; next }
        !named && /^\.Nm "[^"]* [^"]*"$/ {
            command = substr($0, 6, length($0) - 6)
            dotted = command
            gsub(/ /, ".", dotted)
            print ".Nm " dotted
            named = 1
            next
        }
        /^\.Nm / { named = 1 }
        $0 == ".Nm" && command != "" { print ".Nm \"" command "\""; next }
        { print }
    ' "$page" > "$page.tmp"
    mv "$page.tmp" "$page"
done
