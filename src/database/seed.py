# Fills Airflow's metadata database with DAG runs of the DAGs Airflow has serialised, and their
# task instances, through Airflow's own models as a trigger would make them, then marks them done.
# devflow runs it with `python -c SCRIPT N` in the scheduler's pod (Airflow 3.2+, 3.3 and 2.11).
# Prints JSON last: {"runs", "task_instances", "dags", "skipped", "seconds"}.
#
# The APIs, read in apache/airflow's sources:
# - 3.2.2/3.3.2 `airflow/serialization/definitions/dag.py` SerializedDAG.create_dagrun(*, run_id,
#   logical_date, data_interval, run_after, run_type, triggered_by, state, start_date, session):
#   it creates the task instances (`_create_orm_dagrun` → `verify_integrity`) against the DAG's
#   latest DagVersion.
# - 2.11.2 `airflow/models/dag.py` DAG.create_dagrun(state, execution_date, run_id, start_date,
#   external_trigger, run_type, session, data_interval).
# - run ids: a manual run's id must not look like a scheduled one's (`DagRunType.from_run_id`), and
#   match `[scheduler] allowed_run_id_pattern` (default `^[A-Za-z0-9_.~:+-]+$`).
import json
import sys
import time
from datetime import datetime, timedelta, timezone

started = time.monotonic()
wanted = int(sys.argv[1])

from airflow.models.dagrun import DagRun  # noqa: E402
from airflow.models.serialized_dag import SerializedDagModel  # noqa: E402
from airflow.models.taskinstance import TaskInstance  # noqa: E402
from airflow.utils.session import create_session  # noqa: E402
from airflow.utils.state import DagRunState, TaskInstanceState  # noqa: E402
from airflow.utils.types import DagRunType  # noqa: E402

try:
    from airflow.utils.types import DagRunTriggeredByType
except ImportError:  # Airflow 2
    DagRunTriggeredByType = None

PREFIX = "manual__devflow_seed_"
# Far in the past, so that no seeded run is mistaken for the latest one of a DAG.
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
date_column = DagRun.execution_date if DagRunTriggeredByType is None else DagRun.logical_date


def next_date(session, dag_id):
    """A minute after the last seeded run of the DAG: a DAG has one run per logical date."""
    last = (
        session.query(date_column)
        .filter(DagRun.dag_id == dag_id, DagRun.run_id.like(PREFIX + "%"))
        .order_by(date_column.desc())
        .limit(1)
        .scalar()
    )
    return (last + timedelta(minutes=1)) if last else EPOCH


def create(dag, when, session):
    run_id = PREFIX + when.strftime("%Y%m%dT%H%M%S")
    if DagRunTriggeredByType is None:
        return dag.create_dagrun(
            state=DagRunState.SUCCESS,
            execution_date=when,
            run_id=run_id,
            start_date=when,
            external_trigger=True,
            run_type=DagRunType.MANUAL,
            data_interval=(when, when),
            session=session,
        )
    return dag.create_dagrun(
        run_id=run_id,
        logical_date=when,
        data_interval=(when, when),
        run_after=when,
        run_type=DagRunType.MANUAL,
        triggered_by=DagRunTriggeredByType.CLI,
        state=DagRunState.SUCCESS,
        start_date=when,
        session=session,
    )


def finish(run, when, session):
    """The run's task instances succeeded, each in a second."""
    done = session.query(TaskInstance).filter(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
    count = done.update(
        {
            TaskInstance.state: TaskInstanceState.SUCCESS,
            TaskInstance.start_date: when,
            TaskInstance.end_date: when + timedelta(seconds=1),
            TaskInstance.duration: 1.0,
        },
        synchronize_session=False,
    )
    run.end_date = when + timedelta(seconds=2)
    return count


def main():
    with create_session() as session:
        dag_ids = sorted({d for (d,) in session.query(SerializedDagModel.dag_id)})
        dags = [SerializedDagModel.get_dag(dag_id, session=session) for dag_id in dag_ids]
        dags = [d for d in dags if d is not None]
    if not dags:
        print(json.dumps({"error": "Airflow has no DAGs in its database yet: the dag-processor parses them first"}))
        return 1
    runs = task_instances = 0
    skipped = {}
    dates = {}
    with create_session() as session:
        for i in range(wanted):
            live = [d for d in dags if d.dag_id not in skipped]
            if not live:
                break
            dag = live[i % len(live)]
            when = dates.get(dag.dag_id) or next_date(session, dag.dag_id)
            dates[dag.dag_id] = when + timedelta(minutes=1)
            try:
                run = create(dag, when, session)
            except Exception as error:  # a DAG whose params need a value, say: the others go on
                session.rollback()
                skipped[dag.dag_id] = f"{type(error).__name__}: {error}"
                continue
            task_instances += finish(run, when, session)
            runs += 1
            if runs % 200 == 0:
                session.commit()
    print(
        json.dumps(
            {
                "runs": runs,
                "task_instances": task_instances,
                "dags": [d.dag_id for d in dags],
                "skipped": skipped,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0


sys.exit(main())
