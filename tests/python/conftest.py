import pytest
import torch

import statmech  # noqa: F401  (registers torch.ops.statmech)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)
