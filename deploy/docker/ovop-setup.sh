#!/usr/bin/env bash
# ovop-setup — prepares the database for a release, as its owner, from the secrets directory
# `deploy/ovop keys DIR` wrote (mounted at OVOP_SECRETS): the migrate service of
# docker-compose.yml, the ovop-migrate Job of deploy/k8s and ovop-migrate.service run it.
#
#   1. each daemon role (ovop_registry, ovop_exports, ovop_broker, ovop_matching,
#      ovop_notify) gets the password of OVOP_SECRETS/pg-password.ROLE, and is created (LOGIN)
#      when missing: a role is a login only with the password its daemon's passfile holds;
#   2. ovopctl db migrate;
#   3. the principals the system starts with: one service principal per daemon kind
#      (svc-ovop.registry ... with role worker:<service>) and the first administrator
#      ("admin", iam.admin), each with the public key OVOP_SECRETS/NAME.key. Every other
#      principal is added through the bus: ovopctl --key admin.secret principal add ...
#
# Connects with OVOP_DATABASE_URL and libpq's PGUSER / PGPASSFILE (the owner's passfile):
# no password on a command line, in the environment or in a log. Idempotent: each release
# runs it again.
set -euo pipefail

secrets=${OVOP_SECRETS:-/run/secrets}
url=${OVOP_DATABASE_URL:?must name the database (the user and its passfile: PGUSER, PGPASSFILE)}
roles=(ovop_registry ovop_exports ovop_broker ovop_matching ovop_notify)
services=(ovop.registry ovop.exports ovop.matching ovop.notify)
roles+=(ovop_programme) # programd
services+=(ovop.programme)

die() {
    echo "ovop-setup: $*" >&2
    exit 1
}

# public_key FILE: the Z85 key of a NAME.key file.
public_key() {
    sed -n 's/^public-key = "\(.\{40\}\)"$/\1/p' "$1" | grep . || die "$1 holds no public key"
}

# 1. Passwords. The SQL (password included) goes to psql on stdin; the statement is kept out
# of the server's log where this session may say so (a superuser's).
sql="SELECT set_config('log_statement', 'none', false)
  WHERE (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);"
for role in "${roles[@]}"; do
    f=$secrets/pg-password.$role
    [ -r "$f" ] || die "$f is missing: deploy/ovop keys DIR writes it"
    pw=$(head -n 1 "$f")
    [[ $pw =~ ^[A-Za-z0-9._~+/=-]{16,200}$ ]] ||
        die "$f: a password is 16 to 200 characters of A-Z a-z 0-9 . _ ~ + / = -"
    sql+="
DO \$\$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
        ALTER ROLE $role LOGIN PASSWORD '$pw';
    ELSE
        CREATE ROLE $role LOGIN PASSWORD '$pw';
    END IF;
END \$\$;"
done
psql -X -q -v ON_ERROR_STOP=1 -d "$url" >/dev/null <<<"$sql" ||
    die "could not set the roles' passwords"
unset sql pw
echo "ovop-setup: passwords of ${roles[*]} set"

# 2. The schema.
ovopctl --database-url="$url" db migrate

# 3. The first principals.
for s in "${services[@]}"; do
    ovopctl --database-url="$url" db bootstrap "svc-$s" --kind service --name "$s daemon" \
        --key "$(public_key "$secrets/svc-$s.key")" --roles "worker:$s"
done
# matchd creates the shipments of accepted orders in exportd, on the acceptor's behalf.
ovopctl --database-url="$url" db bootstrap svc-ovop.matching --kind service \
    --name "ovop.matching daemon" --key "$(public_key "$secrets/svc-ovop.matching.key")" \
    --roles "worker:ovop.matching exports.from_order"
ovopctl --database-url="$url" db bootstrap admin --kind operator --name "Administrator" \
    --key "$(public_key "$secrets/admin.key")" --roles iam.admin
# ovop-webd, the public verification pages: a client of the broker holding no role (what it
# calls, ovop.registry VerifyCertificate, is open to every authenticated principal).
if [[ -f $secrets/svc-ovop.web.key ]]; then
    ovopctl --database-url="$url" db bootstrap svc-ovop.web --kind service \
        --name "ovop.web daemon" --key "$(public_key "$secrets/svc-ovop.web.key")" \
        --roles "worker:ovop.web" # it answers ovop.web ApproveSignIn (dashboard sign-in)
fi
