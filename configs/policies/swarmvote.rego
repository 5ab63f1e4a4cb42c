# The example policy for the `rego` evaluator: how a node votes on a proposal.
#
#   [evaluator]
#   kind = "rego"
#   policy = "policies/swarmvote.rego"   # relative to the config file
#
# `input` is the proposal:
#   {"id": hex, "action": "fs.delete", "payload": {...},
#    "proposer": {"name": "alice", "key": hex}, "created_at": ms, "expires_at": ms}
# `decision` answers {"vote": "yes" | "no", "reason": "..."}; were it undefined, the
# node would cast no vote and leave the proposal to its agent.
#
# This policy refuses what must not happen without a human (every refusal says why) and
# approves the rest. Test it with:
#   swarmvote policy test --policy configs/policies/swarmvote.rego \
#       --cases configs/policies/swarmvote.cases.toml
package swarmvote

default decision := {"vote": "yes", "reason": "no rule of the policy refuses it"}

decision := {"vote": "no", "reason": concat("; ", refusals)} if count(refusals) > 0

# Paths a proposal touches: a `path` string, or each string in `paths`.
paths contains p if {
	p := input.payload.path
	is_string(p)
}

paths contains p if {
	some p in input.payload.paths
	is_string(p)
}

# 1. Backups are protected: nothing may touch /backup or anything under it.
refusals contains sprintf("%s is a backup: backups are protected", [p]) if {
	some p in paths
	backup(p)
}

backup(p) if p == "/backup"

backup(p) if glob.match("/backup/**", ["/"], p)

# A path that climbs with `..` could reach a backup by another name.
refusals contains sprintf("%s climbs out of its directory with ..", [p]) if {
	some p in paths
	".." in split(p, "/")
}

# 2. No DROP on a production database, whether as db.drop or as SQL.
production(db) if startswith(lower(db), "prod")

production(_) if lower(input.payload.env) in {"prod", "production"}

refusals contains sprintf("dropping production database %s needs a human", [db]) if {
	input.action == "db.drop"
	db := input.payload.name
	production(db)
}

refusals contains sprintf("DROP on production database %s needs a human", [db]) if {
	startswith(input.action, "db.")
	regex.match(`(?i)\bdrop\s+(table|database|schema|index|view)\b`, input.payload.sql)
	db := input.payload.database
	production(db)
}

# 3. Nobody is granted admin by an agent.
refusals contains sprintf("granting %s is refused: no admin grants by agents", [role]) if {
	endswith(input.action, ".grant")
	role := input.payload.role
	contains(lower(role), "admin")
}
