#!/bin/sh
# Restore a backup made by backup.sh into an EMPTY database and an empty MEDIA_ROOT, then prove it and restart
# the work that was in flight. Usage: DATABASE_URL=... MEDIA_ROOT=... deploy/restore.sh /backups/DATE
# Run with the application's environment (APP_ENV, SECRET_KEY, REDIS_URL, ...): the last steps are flask commands.
set -eu
in="${1:?usage: restore.sh BACKUP_DIR}"
flask="${FLASK:-flask}"
url=$(printf '%s' "${DATABASE_URL:?DATABASE_URL is required}" | sed 's/^postgres:/postgresql:/; s/^postgresql+psycopg:/postgresql:/')
(cd "$in" && sha256sum -c --quiet SHA256SUMS)
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$in/baixing.dump"
mkdir -p "${MEDIA_ROOT:?MEDIA_ROOT is required}"
tar -C "$MEDIA_ROOT" -xf "$in/media.tar"
# Every balance equals its entries and every stock its redemptions (exit 1 otherwise).
"$flask" --app wsgi:app points reconcile
# Outbox rows not relayed before the backup are relayed now; relayed rows whose jobs were in the old Redis are
# enqueued again (stall 0: none of those jobs exists any more). Jobs are idempotent: work done twice counts once.
OUTBOX_STALL_S=0 "$flask" --app wsgi:app events sweep --grace 0
echo "restored from $in; start the workers (they run the re-enqueued jobs)"
