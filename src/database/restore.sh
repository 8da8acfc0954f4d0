# Loads the pg_dump custom-format archive on standard input into a new database, then swaps it in
# for the old one. Run by devflow in its PostgreSQL pod with `sh -c SCRIPT devflow USER DB`.
# A dump that does not load leaves the old database as it was; tables a newer Airflow added are
# gone with the old database (pg_restore --clean would only drop what the dump has).
set -eu
# The NOTICEs of `IF EXISTS` are noise in what devflow shows of a failure.
export PGOPTIONS="-c client_min_messages=warning"
user="$1"
db="$2"
new="${db}_devflow_new"
old="${db}_devflow_old"
sql() {
    psql --no-password --no-psqlrc --quiet -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres "$@"
}
sql -c "DROP DATABASE IF EXISTS \"$new\" WITH (FORCE)" -c "CREATE DATABASE \"$new\" OWNER \"$user\""
if ! pg_restore --no-password --exit-on-error --single-transaction --no-owner --no-acl \
    --username="$user" --dbname="$new"; then
    sql -c "DROP DATABASE IF EXISTS \"$new\" WITH (FORCE)"
    echo "devflow: the dump did not load; the database $db is as it was" >&2
    exit 3
fi
sql -c "DROP DATABASE IF EXISTS \"$old\" WITH (FORCE)"
# Nothing may hold the old database open while it is renamed.
sql -tA -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()" >/dev/null
sql --single-transaction -c "ALTER DATABASE \"$db\" RENAME TO \"$old\"" -c "ALTER DATABASE \"$new\" RENAME TO \"$db\""
sql -c "DROP DATABASE \"$old\" WITH (FORCE)"
