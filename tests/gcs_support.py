"""GCS emulator fixtures (fake-gcs-server). Placeholder until the GCS store lands."""

import pytest


@pytest.fixture
def gcs_store_uri():
    pytest.skip("the gs:// store is not built yet")
