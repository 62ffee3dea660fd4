import pytest
import torch

import statmech  # noqa: F401  (registers torch.ops.statmech)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(scope="module")
def one_thread():
    """Runs a test module on one intra-op thread (results that must not depend on the thread count,
    and samplers whose per-thread streams are compared), then restores torch's setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
