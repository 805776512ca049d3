#!/bin/sh
# Run once by the image's entrypoint when the data directory is initialised: the application owns
# its database but is not a superuser; the exporter gets pg_monitor only.
set -eu
app_user="$(cat /var/run/secrets/postgres/username)"
app_password="$(cat /var/run/secrets/postgres/password)"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=app_user="$app_user" --set=app_password="$app_password" <<'SQL'
CREATE ROLE :"app_user" WITH LOGIN PASSWORD :'app_password';
CREATE DATABASE leadgen OWNER :"app_user";
CREATE ROLE metrics WITH LOGIN;
GRANT pg_monitor TO metrics;
SQL
