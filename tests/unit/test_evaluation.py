"""From-scratch evaluation: the networks the field trains, the protocols, the training loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from nas_core.checkpoint import CheckpointError
from nas_core.cli import main as cli_main
from nas_core.evaluation.cli import read_curves, read_genotype
from nas_core.evaluation.data import cutout, load_eval_data
from nas_core.evaluation.networks import build_eval_network, count_flops, count_params
from nas_core.evaluation.protocol import EvalDataset, EvalSpec
from nas_core.evaluation.reporter import EvalEpochRecord, NullEvalReporter
from nas_core.evaluation.train import run_evaluation
from nas_core.genotype import DARTS_V2, genotype_to_json
from nas_core.reporter import SearchCancelled
from nas_core.spaces.nb201_definition import parse_nb201_arch_str

REPO = Path(__file__).resolve().parents[2]
NB201_ARCHES = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
)
BEST = parse_nb201_arch_str(NB201_ARCHES[0])


def xautodl_net(arch: str) -> Any:
    from xautodl.config_utils import dict2config
    from xautodl.models import get_cell_based_tiny_net

    config = {"name": "infer.tiny", "C": 16, "N": 5, "arch_str": arch, "num_classes": 10}
    return get_cell_based_tiny_net(dict2config(config, None))


@pytest.mark.parametrize("arch", NB201_ARCHES)
def test_nb201_network_matches_nas_bench_201_own_model(arch: str) -> None:
    pytest.importorskip("xautodl")
    from xautodl.utils import get_model_infos

    reference = xautodl_net(arch)
    ours = build_eval_network(
        parse_nb201_arch_str(arch), protocol="nb201", C=16, layers=5, num_classes=10, auxiliary=False
    )
    assert count_params(ours) == sum(p.numel() for p in reference.parameters())
    ref_flops, _ = get_model_infos(reference, (1, 3, 32, 32))
    # Their counter adds the classifier's bias; ours counts multiply-accumulates only.
    assert count_flops(ours, 32) / 1e6 == pytest.approx(ref_flops, abs=1e-3)


def test_darts_v2_has_the_papers_parameter_count_without_its_auxiliary_head() -> None:
    net = build_eval_network(DARTS_V2, protocol="darts", C=36, layers=20, num_classes=10, auxiliary=True)
    params_m = count_params(net) / 1e6
    assert params_m == pytest.approx(3.35, abs=0.005)  # the DARTS paper: 3.3M
    with_head = sum(p.numel() for p in net.parameters()) / 1e6
    assert with_head > params_m + 0.4  # the head exists and is excluded
    assert count_flops(net, 32) / 1e6 == pytest.approx(528, abs=5)


def test_darts_network_trains_with_auxiliary_head_and_drop_path() -> None:
    net = build_eval_network(DARTS_V2, protocol="darts", C=4, layers=5, num_classes=3, auxiliary=True)
    net.train()
    net.drop_prob = 0.5  # type: ignore[assignment]
    logits, aux = net(torch.randn(4, 3, 16, 16))
    assert logits.shape == aux.shape == (4, 3)
    net.eval()
    logits, aux = net(torch.randn(4, 3, 16, 16))
    assert aux is None
    # Drop-path zeroes whole samples of an op's output while training, never at test time.
    net.train()
    torch.manual_seed(0)
    op = next(m for m in net.modules() if type(m).__name__ == "DropPathOp")
    out = op(torch.ones(64, 4, 8, 8))
    dropped = (out.flatten(1).abs().sum(1) == 0).float().mean()
    assert 0.2 < float(dropped) < 0.8


def test_protocols_carry_the_published_defaults_and_every_field_overrides() -> None:
    darts = EvalSpec.model_validate({"protocol": "darts"})
    assert (darts.C, darts.layers, darts.epochs, darts.batch_size, darts.cutout) == (36, 20, 600, 96, 16)
    assert (darts.lr, darts.weight_decay, darts.grad_clip, darts.auxiliary_weight, darts.drop_path) == (
        0.025,
        3e-4,
        5.0,
        0.4,
        0.2,
    )
    nb = EvalSpec.model_validate({"protocol": "nb201", "epochs": 3})
    assert (nb.C, nb.layers, nb.epochs, nb.batch_size, nb.lr, nb.nesterov, nb.weight_decay) == (
        16,
        5,
        3,
        256,
        0.1,
        True,
        5e-4,
    )
    assert (nb.auxiliary_weight, nb.drop_path, nb.cutout, nb.grad_clip) == (0.0, 0.0, 0, None)
    # A dump validates back to itself (stored specs and checkpoints round-trip).
    assert EvalSpec.model_validate(nb.model_dump(mode="json")) == nb
    with pytest.raises(ValidationError, match="darts protocol only"):
        EvalSpec.model_validate({"protocol": "nb201", "drop_path": 0.1})
    with pytest.raises(ValidationError):
        EvalSpec.model_validate({"protocol": "nb201", "epochs": 0})
    with pytest.raises(ValidationError):
        EvalSpec.model_validate({"protocol": "nb201", "learning_rate": 0.1})


def test_digits_test_part_is_fixed_and_disjoint_from_training() -> None:
    a = load_eval_data(EvalDataset(name="digits", image_size=8))
    b = load_eval_data(EvalDataset(name="digits", image_size=8, subset=100))
    assert torch.equal(a.test.images, b.test.images)
    assert len(a.test) == round(1797 * 0.2) and len(a.train) == 1797 - len(a.test)
    train = {bytes(x.numpy().tobytes()) for x in a.train.images}
    overlap = sum(bytes(x.numpy().tobytes()) in train for x in a.test.images)
    assert overlap < len(a.test) // 10  # digits has a few duplicate images, nothing more


def test_cutout_zeroes_a_clipped_square() -> None:
    x = torch.ones(2, 3, 8, 8)
    out = cutout(x, torch.tensor([[4, 4], [0, 7]]), 4)
    assert int((out[0, 0] == 0).sum()) == 16
    assert int((out[1, 0] == 0).sum()) == 2 * 3  # rows 0..1, columns 5..7 inside the image


def tiny(protocol: str = "nb201", **overrides: Any) -> EvalSpec:
    data: dict[str, Any] = {
        "protocol": protocol,
        "dataset": {"name": "digits", "image_size": 8},
        "epochs": 3,
        "batch_size": 64,
        "C": 8 if protocol == "nb201" else 4,
        "layers": 1 if protocol == "nb201" else 3,
    }
    if protocol == "darts":
        data.update(cutout=4, dataset={"name": "digits", "image_size": 8, "subset": 256})
    data.update(overrides)
    return EvalSpec.model_validate(data)


def test_tiny_nb201_evaluation_learns_well_above_chance(tmp_path: Path) -> None:
    # Crops padded by 4 px and flips wreck 8×8 digits; without them a few epochs suffice.
    dataset = {"name": "digits", "image_size": 8, "augment": False}
    spec = tiny(epochs=4, lr=0.05, batch_size=32, dataset=dataset)
    result = run_evaluation(spec, BEST, NullEvalReporter(), workdir=tmp_path)
    assert result.test_acc > 0.8  # 10 classes: chance is 0.1
    assert [r.epoch for r in result.epochs] == list(range(4))
    assert result.epochs[0].lr == 0.05 and result.epochs[-1].lr < 0.01  # cosine to 0
    assert result.params_m == pytest.approx(
        count_params(
            build_eval_network(BEST, protocol="nb201", C=8, layers=1, num_classes=10, auxiliary=False)
        )
        / 1e6
    )


class StopAt(NullEvalReporter):
    def __init__(self, epoch: int, step: int) -> None:
        self.at, self.calls, self.epochs = (epoch, step), 0, 0

    def on_epoch(self, record: EvalEpochRecord) -> None:
        self.epochs += 1
        self.calls = 0

    def should_stop(self) -> bool:
        self.calls += 1
        return (self.epochs, self.calls - 1) == self.at


def test_resume_after_a_stop_mid_epoch_is_bit_identical(tmp_path: Path) -> None:
    """darts protocol (auxiliary head, drop-path, cutout all drawing randomness)."""
    spec = tiny("darts")
    straight = run_evaluation(spec, DARTS_V2, NullEvalReporter(), workdir=tmp_path / "a")
    with pytest.raises(SearchCancelled):
        run_evaluation(spec, DARTS_V2, StopAt(epoch=1, step=2), workdir=tmp_path / "b")
    resumed = run_evaluation(spec, DARTS_V2, NullEvalReporter(), workdir=tmp_path / "b", resume=True)
    strip = [{**r.to_dict(), "seconds": 0} for r in straight.epochs]
    assert [{**r.to_dict(), "seconds": 0} for r in resumed.epochs] == strip
    a = torch.load(tmp_path / "a/checkpoints/epoch_0002.pt", weights_only=False)["state"]["model"]
    b = torch.load(tmp_path / "b/checkpoints/epoch_0002.pt", weights_only=False)["state"]["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(CheckpointError, match="genotype"):
        run_evaluation(
            spec,
            DARTS_V2.__class__(**{**DARTS_V2.__dict__, "reduce": DARTS_V2.normal}),
            NullEvalReporter(),
            workdir=tmp_path / "b",
            resume=True,
        )


def test_cli_reads_both_genotype_files(tmp_path: Path) -> None:
    doc = genotype_to_json(BEST, epoch=3, search_id="s")
    (tmp_path / "one.json").write_text(json.dumps(doc))
    (tmp_path / "search.json").write_text(json.dumps({"best": doc, "final": genotype_to_json(DARTS_V2)}))
    assert read_genotype(str(tmp_path / "one.json")) == BEST
    assert read_genotype(str(tmp_path / "search.json"), "best") == BEST
    assert read_genotype(str(tmp_path / "search.json")).space == "darts"


def test_cli_resumes_bit_identically_after_kill_9(tmp_path: Path) -> None:
    genotype = tmp_path / "genotype.json"
    genotype.write_text(json.dumps({"best": genotype_to_json(BEST), "final": genotype_to_json(BEST)}))
    sets = ["--set", "epochs=3", "--set", "dataset.name=digits", "--set", "dataset.image_size=8"]
    sets += ["--set", "C=8", "--set", "layers=1", "--set", "batch_size=64"]
    common = [str(genotype), "--out", "OUT", "--device", "cpu", "--threads", "1", "--no-progress", *sets]

    def args(out: Path) -> list[str]:
        return ["evaluate", *[str(out) if a == "OUT" else a for a in common]]

    assert cli_main(args(tmp_path / "straight")) == 0
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nas_core", *args(killed)], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoints/epoch_0000.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before exit"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (killed / "result.json").exists()
    assert cli_main([*args(killed), "--resume"]) == 0

    def rows(out: Path) -> list[dict[str, Any]]:
        return [{**r.to_dict(), "seconds": 0} for r in read_curves(out / "curves.csv")]

    assert len(rows(killed)) == 3 and rows(killed) == rows(tmp_path / "straight")
    result = json.loads((killed / "result.json").read_text())
    assert result["test_acc"] == json.loads((tmp_path / "straight/result.json").read_text())["test_acc"]
    assert {"test_acc", "params_m", "flops_m"} <= set(result)
    assert (result["precision"], result["channels_last"]) == ("fp32", False)  # auto, resolved on CPU


# --- runtime: precision, memory format, compile --------------------------------------------------


def test_evaluation_runs_bf16_channels_last_by_default_on_cuda_only() -> None:
    from nas_core.evaluation.train import resolved_channels_last, resolved_precision

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    default = EvalSpec.model_validate({"protocol": "nb201"})
    assert default.runtime.precision == "auto" and default.runtime.compile is False
    assert (resolved_precision(default, cuda), resolved_channels_last(default, cuda)) == ("bf16", True)
    assert (resolved_precision(default, cpu), resolved_channels_last(default, cpu)) == ("fp32", False)
    fp32 = EvalSpec.model_validate({"protocol": "nb201", "runtime": {"precision": "fp32"}})
    assert (resolved_precision(fp32, cuda), resolved_channels_last(fp32, cuda)) == ("fp32", False)
    mixed = EvalSpec.model_validate({"runtime": {"precision": "bf16", "channels_last": False}})
    assert (resolved_precision(mixed, cuda), resolved_channels_last(mixed, cuda)) == ("bf16", False)
    assert (resolved_precision(mixed, cpu), resolved_channels_last(mixed, cpu)) == ("bf16", False)
    for bad in ({"precision": "fp16"}, {"compile": "cells"}, {"channels_last": "yes please"}):
        with pytest.raises(ValidationError) as err:
            EvalSpec.model_validate({"runtime": bad})
        assert err.value.errors()[0]["loc"][:2] == ("runtime", next(iter(bad)))


@pytest.mark.parametrize(
    ("runtime", "ran"),
    [({}, ("fp32", False, torch.float32)), ({"precision": "bf16"}, ("bf16", True, torch.bfloat16))],
)
def test_a_cpu_evaluation_records_the_precision_that_ran(
    runtime: dict[str, Any], ran: tuple[str, bool, torch.dtype], tmp_path: Path
) -> None:
    """The result says what computed, never the spec's "auto": auto is fp32 on a CPU, while an
    explicit bf16 autocasts there too (with channels_last, which follows it)."""
    conv_outputs: set[torch.dtype] = set()

    def record(module: torch.nn.Module, args: Any, output: Any) -> None:
        if isinstance(module, torch.nn.Conv2d):
            conv_outputs.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        result = run_evaluation(tiny(epochs=1, runtime=runtime), BEST, NullEvalReporter(), workdir=tmp_path)
    finally:
        handle.remove()
    precision, channels_last, dtype = ran
    assert (result.summary()["precision"], result.summary()["channels_last"]) == (precision, channels_last)
    # Counting FLOPs runs the network once outside autocast, so fp32 outputs appear in both runs.
    assert dtype in conv_outputs and conv_outputs <= {dtype, torch.float32}


def test_compile_wraps_the_fixed_network_and_checkpoints_stay_plain() -> None:
    from nas_core.evaluation.train import build_eval_state

    spec = EvalSpec.model_validate(
        {
            "protocol": "nb201",
            "C": 4,
            "layers": 1,
            "runtime": {"compile": True},
            "dataset": {"name": "synthetic"},
        }
    )
    data = load_eval_data(spec.dataset, device="cpu")
    genotype = parse_nb201_arch_str(
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    )
    state = build_eval_state(spec, genotype, data, torch.device("cpu"))
    # Wrapped lazily: nothing compiles until the first step (not run here: a CPU compile takes minutes).
    assert state.forward is not state.model and isinstance(
        state.forward, torch._dynamo.eval_frame.OptimizedModule
    )
    assert not any(k.startswith("_orig_mod") for k in state.state_dict()["model"])
    plain = build_eval_state(
        spec.model_copy(update={"runtime": spec.runtime.model_copy(update={"compile": False})}),
        genotype,
        data,
        torch.device("cpu"),
    )
    assert plain.forward is plain.model
