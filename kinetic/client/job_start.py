"""Starting a recorded job: the last step of a submission and of a retry.

Where it sits: ``kinetic.client.submit`` (a new job) and ``kinetic.client.job_retry`` (a
job run again) both end here with a record, a resolved spec and a framed payload. Nothing
here knows the caller's handle, so the handle's own ``retry()`` can reach it.
"""

from __future__ import annotations

import re
import secrets
import string

from kinetic.backends.backend_contract import Backend
from kinetic.model.errors import JobExistsError
from kinetic.model.job_record import JobRecord
from kinetic.spec.job_spec import JobSpec
from kinetic.store import layout, open_store
from kinetic.wire.framing import Framed

_ALPHABET = string.ascii_lowercase + string.digits


def new_job_id(name: str) -> str:
    """``{slug}-{8 random chars}``: readable in `kinetic jobs list`, valid as a k8s name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "job"
    return f"{slug}-{''.join(secrets.choice(_ALPHABET) for _ in range(8))}"


def start(backend: Backend, record: JobRecord, spec: JobSpec, framed: Framed) -> None:
    """Record and start ``record``'s job through ``backend``; a job that did not start
    leaves nothing behind (its payload file is closed either way)."""
    try:
        backend.submit(record, spec, framed)
    except JobExistsError:
        framed.close()
        raise  # another job's records: never touch them
    except BaseException:
        framed.close()
        open_store(record.store).delete_prefix(layout.job_prefix(record.job_id))  # never started
        raise
