"""U-TAE and L-TAE: shape trace, padding by the mask only, batch independence, buffers, errors."""

from __future__ import annotations

import pytest
import torch

from baseline.utae import LTAE, UTAE, aggregate_with_attention, masked_group_norm


def tiny_utae() -> UTAE:
    torch.manual_seed(0)
    return UTAE(10, (8, 8, 16, 16), (8, 8, 16, 16), n_head=4, d_model=16, d_k=2).eval()


def series(batch: int, dates: int, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, dates, 10, size, size, generator=torch.Generator().manual_seed(seed))


def test_shape_trace_of_the_default_configuration() -> None:
    # formats.md 14.4 with B = 1, T = 3 (the baseline's widths, heads and 40-pixel crop).
    model = UTAE().eval()
    x, days = series(1, 3, 40), torch.tensor([[120.0, 30.0, -61.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    seen: dict[str, tuple[int, ...]] = {}
    model.in_conv.register_forward_hook(lambda m, i, o: seen.__setitem__("in_conv", tuple(o.shape)))
    for k, block in enumerate(model.down):
        block.register_forward_hook(
            lambda m, i, o, k=k: seen.__setitem__(f"down{k}", tuple(o.shape))
        )
    with torch.no_grad():
        maps = [model.in_conv(x[0])]
        for block in model.down:
            maps.append(block(maps[-1]))
        embedding, attention = model.ltae(maps[-1][None], days, mask)
        out = model(x, days, mask)
    assert seen["in_conv"] == (3, 64, 40, 40)
    assert [seen[f"down{k}"] for k in range(3)] == [
        (3, 64, 20, 20),
        (3, 128, 10, 10),
        (3, 128, 5, 5),
    ]
    assert embedding.shape == (1, 128, 5, 5) and attention.shape == (16, 1, 3, 5, 5)
    assert out.shape == (1, 64, 40, 40) and model.out_channels == 64


def test_padding_never_changes_the_output() -> None:
    model = tiny_utae()
    x, days = series(1, 3), torch.tensor([[100.0, 0.0, -50.0]])
    with torch.no_grad():
        alone = model(x, days, torch.ones(1, 3, dtype=torch.bool))
        # Padded slots filled with garbage: only the mask says they are padding.
        padded = torch.cat([x, 5 * torch.rand(1, 4, 10, 16, 16)], dim=1)
        padded_days = torch.cat([days, torch.tensor([[7.0, 0.0, -3.0, 200.0]])], dim=1)
        mask = torch.tensor([[True, True, True, False, False, False, False]])
        assert torch.allclose(model(padded, padded_days, mask), alone, atol=1e-5)


def test_an_all_zero_acquisition_is_a_real_date() -> None:
    model = tiny_utae()
    x, days = series(1, 2), torch.tensor([[30.0, 10.0]])
    zero = torch.cat([x, torch.zeros(1, 1, 10, 16, 16)], dim=1)
    with torch.no_grad():
        without = model(x, days, torch.ones(1, 2, dtype=torch.bool))
        with_zero = model(
            zero, torch.tensor([[30.0, 10.0, 0.0]]), torch.ones(1, 3, dtype=torch.bool)
        )
    assert not torch.allclose(with_zero, without, atol=1e-4)


def test_a_sample_does_not_depend_on_its_batch() -> None:
    model = tiny_utae()
    a, b = series(1, 2, seed=2), series(1, 4, seed=3)
    days_a, days_b = torch.tensor([[40.0, -20.0]]), torch.tensor([[90.0, 40.0, 10.0, -80.0]])
    batch = torch.cat([torch.cat([a, torch.zeros(1, 2, 10, 16, 16)], dim=1), b])
    days = torch.cat([torch.cat([days_a, torch.zeros(1, 2)], dim=1), days_b])
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    with torch.no_grad():
        together = model(batch, days, mask)
        assert torch.allclose(
            together[0], model(a, days_a, torch.ones(1, 2, dtype=torch.bool))[0], atol=1e-5
        )
        assert torch.allclose(
            together[1], model(b, days_b, torch.ones(1, 4, dtype=torch.bool))[0], atol=1e-5
        )


def test_attention_is_zero_on_padded_dates_and_sums_to_one() -> None:
    torch.manual_seed(0)
    ltae = LTAE(8, 16, 8, n_head=4, d_k=2).eval()
    mask = torch.tensor([[True, False, True]])
    with torch.no_grad():
        _, attention = ltae(torch.rand(1, 3, 8, 2, 2), torch.tensor([[10.0, 0.0, 5.0]]), mask)
    assert attention.shape == (4, 1, 3, 2, 2)
    assert torch.all(attention[:, :, 1] == 0)
    assert torch.allclose(attention.sum(dim=2), torch.ones(4, 1, 2, 2))


def test_masked_group_norm_ignores_padded_steps() -> None:
    norm = torch.nn.GroupNorm(2, 4)
    x = torch.rand(1, 2, 4)
    padded = torch.cat([x, 100 * torch.ones(1, 3, 4)], dim=1)
    mask = torch.tensor([[True, True, False, False, False]])
    reference = norm(x.permute(0, 2, 1)).permute(0, 2, 1)
    assert torch.allclose(masked_group_norm(padded, mask, norm)[:, :2], reference, atol=1e-5)


def test_skip_aggregation_with_one_date_is_the_skip() -> None:
    skip = torch.rand(2, 1, 8, 4, 4)
    attention = torch.ones(4, 2, 1, 2, 2)
    assert torch.allclose(aggregate_with_attention(skip, attention), skip[:, 0])


def test_positional_encoding_is_a_buffer_that_moves_with_the_model() -> None:
    model = tiny_utae()
    assert "ltae.positional.inverse_periods" in dict(model.named_buffers())
    assert "ltae.positional.inverse_periods" in model.state_dict()
    moved = model.to(torch.float64)
    assert moved.ltae.positional.inverse_periods.dtype == torch.float64
    with torch.no_grad():
        out = moved(
            series(1, 2).double(),
            torch.tensor([[1.0, 2.0]]).double(),
            torch.ones(1, 2, dtype=torch.bool),
        )
    assert out.dtype == torch.float64


def test_errors_name_what_is_wrong() -> None:
    model = tiny_utae()
    with pytest.raises(ValueError, match=r"\(12, 12\) is not a multiple of 8 of at least 16"):
        model(series(1, 2, 12), torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"a sample has no real date"):
        model(series(2, 2), torch.zeros(2, 2), torch.tensor([[True, False], [False, False]]))
    with pytest.raises(ValueError, match=r"needs day offsets and a mask of shape \(1, 2\)"):
        model(series(1, 2), torch.zeros(1, 3), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"encoder width 6 is not a multiple of n_head 4"):
        UTAE(10, (6, 8, 16, 16), (8, 8, 16, 16), n_head=4, d_model=16)
    with pytest.raises(ValueError, match=r"need the same length"):
        UTAE(10, (8, 8, 16), (8, 8, 16, 16), n_head=4, d_model=16)
    with pytest.raises(ValueError, match=r"must be multiples of n_head 4"):
        LTAE(8, 18, 8, n_head=4, d_k=2)
