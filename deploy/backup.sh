#!/bin/sh
# Back up what must survive the worst day: the database (pg_dump, custom format) and the media directory.
# Usage: DATABASE_URL=postgresql://user@host/baixing MEDIA_ROOT=/srv/baixing/media deploy/backup.sh /backups/DATE
# The database is dumped first, then the media: a photo's file is written before its row, so every row in the dump
# has its file in the archive (files newer than the dump are harmless). Redis is not backed up: nothing in it
# matters that the restore cannot rebuild (restore.sh re-enqueues the outbox's work).
set -eu
out="${1:?usage: backup.sh OUTPUT_DIR}"
url=$(printf '%s' "${DATABASE_URL:?DATABASE_URL is required}" | sed 's/^postgres:/postgresql:/; s/^postgresql+psycopg:/postgresql:/')
mkdir -p "$out"
pg_dump --format=custom --no-owner --no-privileges --file="$out/baixing.dump" "$url"
tar -C "${MEDIA_ROOT:?MEDIA_ROOT is required}" -cf "$out/media.tar" .
(cd "$out" && sha256sum baixing.dump media.tar > SHA256SUMS)
echo "backup written to $out"
