"""One torch thread for the agents' tests: their networks are tiny, and on a shared 2-core
machine torch's intra-op thread pool made them 5x slower in CPU time (measured: a 3,000-step
DQN run, 2.4 s with one thread, 15 s with two)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
