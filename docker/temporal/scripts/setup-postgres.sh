#!/bin/sh
# One-shot (admin-tools image): create Temporal's two databases and bring their schemas
# to the version this admin-tools image ships. Safe on every `up`: an existing database
# is kept, setup-schema is a no-op once versioned, update-schema applies only newer versions.
# Reads POSTGRES_SEEDS, DB_PORT, POSTGRES_USER and SQL_PASSWORD from the environment.
set -eu

schema=/etc/temporal/schema/postgresql/v12

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
  db=${pair%%:*}
  dir=${pair#*:}
  echo "Temporal schema: $db"
  sql --db "$db" create
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$schema/$dir/versioned"
done

echo "Temporal schema setup complete"
