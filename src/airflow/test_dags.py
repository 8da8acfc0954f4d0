# devflow test, run inside an Airflow pod with the cluster's own image: imports every DAG file of
# the folder given as the first argument as Airflow's processor would, and prints one JSON report.
import json
import sys
import time

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2, and Airflow 3 before 3.1
    from airflow.models.dagbag import DagBag

started = time.monotonic()
try:
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
except TypeError:  # Airflow 3.2 and later: examples are never in a folder's bag
    bag = DagBag(dag_folder=sys.argv[1])
dags = []
problems = []
for dag_id, dag in sorted(bag.dags.items()):
    dags.append({"dag_id": dag_id, "file": dag.fileloc, "tasks": len(dag.tasks)})
    if not dag.tasks:
        problems.append({"dag_id": dag_id, "file": dag.fileloc, "problem": "the DAG has no tasks"})
for warning in getattr(bag, "dag_warnings", None) or ():
    problems.append({"dag_id": warning.dag_id, "file": "", "problem": warning.message})
# What importing each file warned of, as "file:line: Category: message" (DagBag.captured_warnings,
# Airflow 2.9 and later: dag_processing/dagbag.py), for `devflow upgrade` to find new deprecations.
warned = [{"file": file, "warning": text}
          for file, texts in sorted((getattr(bag, "captured_warnings", None) or {}).items()) for text in texts]
print(json.dumps({
    "dags": dags,
    "import_errors": [{"file": file, "error": error} for file, error in sorted(bag.import_errors.items())],
    "problems": problems,
    "warnings": warned,
    "seconds": round(time.monotonic() - started, 2),
}))
