#!/usr/bin/env bash
# The demo user's copies of the tutorial notebooks, kept up to date without losing their work.
# demo.sh runs it as that user; the tests run it on folders of their own.
#
#   scripts/tutorial-copies.sh SHIPPED_DIR COPIES_DIR
#
# A tutorial missing from COPIES_DIR is copied in. When a shipped tutorial changed since it was
# copied (a newer checkout), the copy is replaced by it; a copy that changed since it was copied
# (edited, or saved with outputs), or that predates the record, is first kept beside it as
# NAME.before-YYYYmmdd-HHMMSS.ipynb. COPIES_DIR/.shipped.sha256 records what was copied, so an
# unchanged tutorial leaves the copy alone, edited or not.
set -euo pipefail

shipped=$1
copies=$2
record="$copies/.shipped.sha256"
stamp=$(date +%Y%m%d-%H%M%S)

sha() { sha256sum <"$1" | cut -d' ' -f1; }
recorded() { [[ -e $record ]] && awk -v name="$1" '$2 == name { print $1 }' "$record"; }

mkdir -p "$copies"
kept="" # the record's new lines: what each copy was copied from
for tutorial in "$shipped"/*.ipynb; do
    name=$(basename "$tutorial")
    target="$copies/$name"
    new=$(sha "$tutorial")
    was=$(recorded "$name" || true)
    if [[ -e $target && $new != "$was" ]]; then
        now=$(sha "$target")
        if [[ $now != "$was" && $now != "$new" ]]; then # edited, or copied before the record
            backup="${name%.ipynb}.before-$stamp.ipynb"
            if [[ -e $copies/$backup ]]; then
                echo "$name: the tutorial changed, but $backup is taken: your copy is left as is"
                kept+="$was  $name"$'\n'
                continue
            fi
            mv "$target" "$copies/$backup"
            echo "$name: the tutorial changed; your copy is kept as $backup"
        fi
    fi
    if [[ ! -e $target || $new != "$was" ]]; then
        cp "$tutorial" "$target"
        chmod 0644 "$target"
    fi
    kept+="$new  $name"$'\n'
done
printf '%s' "$kept" >"$record"
