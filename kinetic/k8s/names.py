"""Names shared by the client, the operator and the chart: group, version, labels."""

GROUP = "kinetic.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "KineticJob"
PLURAL = "kineticjobs"

LABEL_JOB_ID = "kinetic.dev/job-id"
LABEL_ATTEMPT = "kinetic.dev/attempt"  # on each attempt's Job and pods: "1", "2", …
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# On the pods of jobs with network=NAME; the network's NetworkPolicy selects on it.
LABEL_NETWORK = "kinetic.dev/network"
# On the pods of a spot=True job: a node shutdown under it is the spot VM being reclaimed.
LABEL_SPOT = "kinetic.dev/spot"
MANAGED_BY = "kinetic"
# Every object Kinetic creates carries this selector, so watches can be label-filtered.
SELECTOR = {LABEL_MANAGED_BY: MANAGED_BY}

CONTAINER = "job"
STORE_VOLUME = "kinetic-store"

# The operator's heartbeat: a coordination.k8s.io/v1 Lease of this name in the namespace
# the operator runs in (the chart's RBAC names it too). `kinetic doctor` reads it.
OPERATOR_LEASE = "kinetic-operator"
# On that Lease: the namespaces the operator serves, "*" for all, else comma-separated.
ANNOTATION_SERVED_NAMESPACES = "kinetic.dev/namespaces"

# Batches (f.run_async_map on kubernetes): one KineticBatch per batch, driven by the
# operator; its items are KineticJobs named BATCH_ID-INDEX carrying this label.
BATCH_KIND = "KineticBatch"
BATCH_PLURAL = "kineticbatches"
LABEL_BATCH = "kinetic.dev/batch"
LABEL_WORKFLOW = "kinetic.dev/workflow"  # on a workflow's KineticJobs: the workflow's id
LABEL_BATCH_INDEX = "kinetic.dev/batch-index"
# On a failed item requeued by retry_failed(): the attempt that failed ("3"); the operator
# runs the next one when a slot frees, with a fresh retry budget (kinetic.k8s.batch_items).
LABEL_BATCH_REQUEUED = "kinetic.dev/batch-requeued"
