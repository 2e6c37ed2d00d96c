"""pytest settings shared by the unit tests and the notebook tests (nbval)."""
import pytest

# nbval waits at most 5 s between two output messages of a cell once the cell has finished; on a
# loaded 2-core CI machine a kernel has been seen to take longer than that to flush a long cell's
# output, which failed a correct notebook ("Timeout of 5 seconds exceeded waiting for output").
NBVAL_OUTPUT_TIMEOUT_S = 60


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Give every nbval cell a longer wait for its output (the cell's own time limit is unchanged)."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
