"""The mutation benchmark (benchmarks/mutation_score.py) makes real mutants of the code a
check runs, runs them in place of the reference, and leaves listed equivalents out."""

import importlib.util
import sys
from pathlib import Path

import rlspec
import torch

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "mutation_score.py"
_SPEC = importlib.util.spec_from_file_location("mutation_score", _PATH)
mutation_score = importlib.util.module_from_spec(_SPEC)
sys.modules["mutation_score"] = mutation_score  # dataclasses look their module up there
_SPEC.loader.exec_module(mutation_score)

CLIP = ("ppo-clip-loss", "ppo.clipped-objective", "rlspec.reference.ppo:clipped_surrogate_loss", {})


def _clip_mutant(operator: str, text: str):
    mutants = mutation_score.mutants_of(*CLIP)
    return next(m for m in mutants if m.operator == operator and text in m.id)


def test_power_mutants_cover_the_function_and_the_helpers_it_calls():
    mutants = mutation_score.mutants_of(*CLIP)
    assert {m.function for m in mutants} >= {"clipped_surrogate_loss", "_tensor", "_same_length"}
    assert {"min-max", "no-detach", "operator", "constant", "drop-negation"} <= \
        {m.operator for m in mutants}
    assert len({m.id for m in mutants}) == len(mutants)


def test_power_a_min_max_mutant_computes_something_else_and_its_check_rejects_it():
    mutant = _clip_mutant("min-max", "torch.minimum(ratio * advantages")
    function = mutation_score.mutant_function(mutant)
    arguments = (torch.tensor([0.5]), torch.tensor([0.0]), torch.tensor([1.0]), 0.2)
    original = rlspec.reference.ppo.clipped_surrogate_loss(*arguments)
    assert float(function(*arguments)) != float(original)
    assert not rlspec.check("ppo-clip-loss", function, max_examples=5).passed


def test_power_listed_equivalents_leave_the_score():
    results = [{"id": "a", "check": "c", "chapter": "x", "status": "survived"},
               {"id": "b", "check": "c", "chapter": "x", "status": "survived"},
               {"id": "k", "check": "c", "chapter": "x", "status": "killed"}]
    summary = mutation_score.summarise(results, {("c", "a"): "same value on every input"})
    assert summary["checks"]["c"]["equivalent"] == 1
    assert summary["total"]["score"] == 0.5


def test_power_every_listed_equivalent_has_a_reason():
    listed = mutation_score.load_equivalents()
    assert listed and all(reason.strip() for reason in listed.values())
