"""Per-sample draws for a rank's rows are its slice of the draw one process makes for the global batch."""
import pytest
import torch

from gankit.objectives import batch_rng


@pytest.fixture(autouse=True)
def alone_after():
    yield
    batch_rng.set_shard(0, 1)


def test_each_rank_gets_its_rows_of_the_one_process_draw():
    torch.manual_seed(3)
    whole = torch.rand(8, 2)
    ints = torch.randint(-2, 3, (8,))
    for rank in (0, 1):
        torch.manual_seed(3)
        batch_rng.set_shard(rank, 2)
        part = batch_rng.rand_like(torch.empty(4, 2))
        torch.testing.assert_close(part, whole[rank * 4:(rank + 1) * 4])
        torch.testing.assert_close(batch_rng.randint(-2, 3, 4), ints[rank * 4:(rank + 1) * 4])


def test_alone_it_is_the_plain_draw_and_a_bad_shard_is_refused():
    torch.manual_seed(0)
    a = torch.randn(5, 3)
    torch.manual_seed(0)
    torch.testing.assert_close(batch_rng.randn_like(torch.empty(5, 3)), a)
    with pytest.raises(ValueError, match="rank 2 outside a world of 2"):
        batch_rng.set_shard(2, 2)
