# devflow settings import, run inside the scheduler's pod (which reaches Airflow's database):
# reads {"connections": {...}, "variables": {...}, "pools": {...}} as JSON on stdin, creates or
# updates each, and prints what it did as JSON. Values never reach the output.
import json
import sys

from airflow.models import Connection, Pool, Variable
from airflow.utils.session import create_session

FIELDS = ("conn_type", "host", "port", "login", "password", "schema", "extra", "description")


def upsert(session, model, key, name, wanted):
    """Makes the row named `name` hold `wanted`; says whether it was created, updated or unchanged."""
    current = session.query(model).filter(getattr(model, key) == name).one_or_none()
    if current is None:
        session.add(model(**{key: name}, **wanted))
        return "created"
    if all(getattr(current, field) == value for field, value in wanted.items()):
        return "unchanged"
    for field, value in wanted.items():
        setattr(current, field, value)
    return "updated"


payload = json.load(sys.stdin)
done = []
with create_session() as session:
    for conn_id, given in payload.get("connections", {}).items():
        wanted = {field: given.get(field) for field in FIELDS}
        done.append({"kind": "connection", "name": conn_id, "result": upsert(session, Connection, "conn_id", conn_id, wanted)})
    for key, value in payload.get("variables", {}).items():
        done.append({"kind": "variable", "name": key, "result": upsert(session, Variable, "key", key, {"val": value})})
    for name, given in payload.get("pools", {}).items():
        wanted = {
            "slots": given["slots"],
            "description": given.get("description") or "",
            "include_deferred": bool(given.get("include_deferred", False)),
        }
        done.append({"kind": "pool", "name": name, "result": upsert(session, Pool, "pool", name, wanted)})
print(json.dumps(done))
