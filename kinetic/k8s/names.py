"""Names shared by the client, the operator and the chart: group, version, labels."""

GROUP = "kinetic.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "KineticJob"
PLURAL = "kineticjobs"

LABEL_JOB_ID = "kinetic.dev/job-id"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kinetic"
# Every object Kinetic creates carries this selector, so watches can be label-filtered.
SELECTOR = {LABEL_MANAGED_BY: MANAGED_BY}

CONTAINER = "job"
STORE_VOLUME = "kinetic-store"
